import type { RiskSeverity } from '@continuity/contracts';
import { assessProtection } from '../resource-state/protection.projection.js';
import type { ResourceState } from '../resource-state/resource-state.projection.js';
import { evaluateRisks, RiskFinding, RiskPolicy } from '../risks/risk-rules.js';
import { measureSlos } from '../slo/slo.decider.js';

/** One line of the estate table: a resource at a glance, from its projection alone (no log fold). */
export interface EstateRow {
  resource: string;
  status: 'breached' | 'at-risk' | 'ok';
  /** Now minus the newest recoverable moment (verified point, or WAL after a verified base backup). */
  rpoAchievedMs: number | null;
  rpoBreached: boolean;
  breachedSlos: string[];
  lastVerifiedPoint: string | null;
  recoverableWindow: { earliest: string; latest: string; walBased: boolean } | null;
  rpoExposure: { threeCopiesMs: number | null; oneCopyMs: number | null; walBased: boolean };
  lastVerifiedPitr: { at: string; point: string; restoreMs: number | null } | null;
  lastDrill: { at: string; passed: boolean } | null;
  openRisks: number;
  worstRisk: RiskSeverity | null;
}

export interface EstateRisk extends RiskFinding {
  resource: string;
  /** The RiskIdentified that announced it, when the ledger has it yet. */
  riskId: string | null;
  openSince: string | null;
}

export interface Estate {
  at: string;
  rows: EstateRow[];
  /** Every finding now, worst first: what the report shows first. */
  risks: EstateRisk[];
}

const SEVERITY_ORDER: RiskSeverity[] = ['critical', 'high', 'medium', 'low'];
const STATUS_ORDER: EstateRow['status'][] = ['breached', 'at-risk', 'ok'];
/** Code-point order: names are ASCII tokens, and ICU collation costs more than the rest of a row. */
const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The estate from every resource's stored projection at `now` (pure; O(resources)). */
export const buildEstate = (states: Iterable<ResourceState>, now: Date, policy: RiskPolicy): Estate => {
  const rows: EstateRow[] = [];
  const risks: EstateRisk[] = [];
  for (const state of states) {
    if (!state.protection && !state.lastBackup && !state.failovers.length) continue; // e.g. audit-ledger: nothing to protect
    const assessment = assessProtection(state, now);
    const slos = measureSlos(state, now, policy.targets);
    const findings = evaluateRisks(state, now, policy);
    const open = state.protection?.openRisks ?? {};
    for (const f of findings) risks.push({ ...f, resource: state.resource, riskId: open[f.rule]?.id ?? null, openSince: open[f.rule]?.since ?? null });
    const breachedSlos = slos.filter((m) => m.breached).map((m) => m.kind);
    const worstRisk = SEVERITY_ORDER.find((s) => findings.some((f) => f.severity === s)) ?? null;
    const rpo = slos.find((m) => m.kind === 'rpo');
    rows.push({
      resource: state.resource,
      status: breachedSlos.length ? 'breached' : findings.length ? 'at-risk' : 'ok',
      rpoAchievedMs: assessment.rpoExposure.recoverableMs,
      rpoBreached: rpo?.breached ?? false,
      breachedSlos,
      lastVerifiedPoint: state.lastVerified?.recoveryPoint ?? null,
      recoverableWindow: assessment.recoverableWindow,
      rpoExposure: { threeCopiesMs: assessment.rpoExposure.threeCopiesMs, oneCopyMs: assessment.rpoExposure.oneCopyMs, walBased: assessment.rpoExposure.walBased },
      lastVerifiedPitr: assessment.lastVerifiedPitr && { at: assessment.lastVerifiedPitr.at, point: assessment.lastVerifiedPitr.point, restoreMs: assessment.lastVerifiedPitr.restoreMs },
      lastDrill: assessment.lastDrill && { at: assessment.lastDrill.at, passed: assessment.lastDrill.passed },
      openRisks: findings.length,
      worstRisk,
    });
  }
  rows.sort((a, b) => STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status) || byName(a.resource, b.resource));
  risks.sort((a, b) => SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity) || byName(a.resource, b.resource) || byName(a.rule, b.rule));
  return { at: now.toISOString(), rows, risks };
};
