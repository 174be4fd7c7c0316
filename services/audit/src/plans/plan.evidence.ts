import type { ResourceState } from '../resource-state/resource-state.projection.js';
import type { SignedTreeHead } from '@continuity/contracts/ledger';
import { field } from '../notifications/notice.js';
import type { DrillEvidence, RiskEvidence } from './continuity-plan.js';

/** Any SQL runner: TypeORM's `DataSource.query` in the service, a `pg` client in the CLI. */
export type Query = (sql: string, params?: unknown[]) => Promise<any[]>;

const num = (data: unknown, ...names: string[]) => {
  const value = field(data, ...names);
  return value !== null && Number.isFinite(Number(value)) ? Number(value) : null;
};

/**
 * A `DrillCompleted` read through generic fields (its schema lives in another slice and may not be
 * in this build): outcome, kind, achieved RTO/RPO and the steps with their timings.
 */
export const drillEvidenceOf = (envelope: { id: string; occurredAt: string; data: unknown }): DrillEvidence => {
  const data = envelope.data;
  const rawSteps = (data as { steps?: unknown } | null)?.steps;
  const steps = Array.isArray(rawSteps)
    ? rawSteps.slice(0, 50).map((s) => ({ name: field(s, 'name', 'step', 'kind') ?? '?', outcome: field(s, 'outcome', 'status') ?? '?', durationMs: num(s, 'durationMs', 'elapsedMs') }))
    : [];
  return {
    eventId: envelope.id,
    occurredAt: envelope.occurredAt,
    outcome: field(data, 'outcome', 'status', 'verdict') ?? 'unknown',
    kind: field(data, 'kind'),
    rtoMs: num(data, 'achievedRtoMs', 'rtoMs'),
    rpoMs: num(data, 'achievedRpoMs', 'rpoMs'),
    steps,
  };
};

/** Risks identified and not resolved since, by rule (newest identification of each rule). */
export const openRisksOf = (events: { id: string; type: string; occurredAt: string; data: unknown }[]): RiskEvidence[] => {
  const open = new Map<string, RiskEvidence>();
  for (const e of events) {
    const rule = field(e.data, 'rule', 'ruleId', 'riskId', 'kind') ?? 'risk';
    if (e.type === 'RiskResolved') open.delete(rule);
    else open.set(rule, { eventId: e.id, rule, severity: field(e.data, 'severity') ?? 'unknown', mitigation: field(e.data, 'mitigation'), occurredAt: e.occurredAt });
  }
  return [...open.values()];
};

export interface LedgerEvidence {
  state: ResourceState | null;
  lastDrill: DrillEvidence | null;
  openRisks: RiskEvidence[];
  signedHead: SignedTreeHead | null;
}

/** What the plan needs from the ledger, trusted entries only. Bounded: one row, one row, at most 1000 risk events. */
export const readLedgerEvidence = async (query: Query, resource: string): Promise<LedgerEvidence> => {
  const [stateRow] = await query('select state from audit.resource_states where resource = $1', [resource]);
  const [drillRow] = await query(
    `select envelope from audit.log_entries where resource = $1 and type = 'DrillCompleted' and untrusted is null order by log_index desc limit 1`,
    [resource],
  );
  const riskRows = await query(
    `select envelope from (select envelope, log_index from audit.log_entries where resource = $1 and type in ('RiskIdentified', 'RiskResolved') and untrusted is null order by log_index desc limit 1000) r order by log_index`,
    [resource],
  );
  const [head] = await query('select * from audit.tree_heads order by tree_size desc limit 1');
  return {
    state: (stateRow?.state as ResourceState | undefined) ?? null,
    lastDrill: drillRow ? drillEvidenceOf(drillRow.envelope) : null,
    openRisks: openRisksOf(riskRows.map((r) => r.envelope)),
    signedHead: head ? { treeSize: Number(head.tree_size), rootHash: String(head.root_hash), timestamp: String(head.timestamp), signature: String(head.signature), keyId: String(head.key_id) } : null,
  };
};
