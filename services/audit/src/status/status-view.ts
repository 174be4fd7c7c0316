import { assessAt, ResourceState, SloTargets } from '../resource-state/resource-state.projection.js';

/**
 * An open risk from the risk register (`RiskIdentified` not yet `RiskResolved`). The register is
 * not in this service yet: the status page renders these when a caller passes them.
 */
export interface OpenRisk {
  resource: string;
  rule: string;
  severity: string;
  detail: string;
  since: string;
}

export type ResourceCondition = 'protected' | 'at-risk' | 'unverified' | 'down';

export interface ResourceStatus {
  resource: string;
  condition: ResourceCondition;
  /** Why it is not `protected`, one reason a line. */
  reasons: string[];
  rpoExposureMs: number | null;
  rpoTargetMs: number;
  newestVerified: { backupId: string; recoveryPoint: string; verifiedAt: string; ageMs: number; copies: number; media: number; sites: number; compliant: boolean } | null;
  lastBackup: { backupId: string; createdAt: string; sizeBytes: number } | null;
  lastVerdict: { verdict: string; at: string; reasons: string[] } | null;
  lastRestoreTest: { durationMs: number; at: string } | null;
  failovers: { count: number; recent: { to: string; from: string | null; rtoMs: number; completedAt: string }[]; outageSince: string | null };
  availability: number;
  counts: ResourceState['counts'];
  risks: OpenRisk[];
}

export interface StatusView {
  generatedAt: string;
  resources: ResourceStatus[];
  head: { treeSize: number; timestamp: string } | null;
  /** null: no risk register in this ledger yet (the section is left out); []: none open. */
  risks: OpenRisk[] | null;
  tracesUrl: string | null;
}

const RECENT_FAILOVERS = 3;

/** One resource's row: its state folded from the ledger, judged at `now` against the targets. Pure. */
export const resourceStatus = (state: ResourceState, now: Date, targets: SloTargets, risks: OpenRisk[] = []): ResourceStatus => {
  const assessed = assessAt(state, now, targets);
  const verified = state.lastVerified;
  const reasons: string[] = [];
  if (state.openOutage) reasons.push(`no routable primary since ${state.openOutage.since}`);
  if (!verified) reasons.push('no verified recovery point yet');
  else {
    if (assessed.rpoBreached) reasons.push(`newest verified recovery point is older than the RPO target`);
    if (!verified.threeTwoOne.compliant) reasons.push(`verified copies miss 3-2-1 (${verified.threeTwoOne.copies} copies, ${verified.threeTwoOne.media} media, ${verified.threeTwoOne.sites} sites)`);
  }
  const verdict = state.lastVerdict;
  if (verdict && verdict.verdict !== 'passed') reasons.push(`last verification ${verdict.verdict}${verdict.reasons.length ? `: ${verdict.reasons.slice(0, 3).join('; ')}` : ''}`);
  // High and critical risks make the resource at risk; medium and low ones are listed, not alarmed on.
  for (const risk of risks) if (risk.severity === 'high' || risk.severity === 'critical') reasons.push(`risk: ${risk.rule} (${risk.severity})`);
  const condition: ResourceCondition = state.openOutage ? 'down' : !verified ? 'unverified' : reasons.length > 0 ? 'at-risk' : 'protected';
  return {
    resource: state.resource,
    condition,
    reasons,
    rpoExposureMs: assessed.rpoExposureMs,
    rpoTargetMs: targets.rpoMs,
    newestVerified: verified
      ? {
          backupId: verified.backupId,
          recoveryPoint: verified.recoveryPoint,
          verifiedAt: verified.verifiedAt,
          ageMs: Math.max(0, now.getTime() - Date.parse(verified.recoveryPoint)),
          ...verified.threeTwoOne,
        }
      : null,
    lastBackup: state.lastBackup ? { backupId: state.lastBackup.backupId, createdAt: state.lastBackup.createdAt, sizeBytes: state.lastBackup.sizeBytes } : null,
    lastVerdict: state.lastVerdict ? { verdict: state.lastVerdict.verdict, at: state.lastVerdict.at, reasons: state.lastVerdict.reasons } : null,
    lastRestoreTest: verified && verified.restoreMs !== null ? { durationMs: verified.restoreMs, at: verified.verifiedAt } : null,
    failovers: {
      count: state.counts.failovers,
      recent: state.failovers.slice(-RECENT_FAILOVERS).reverse().map((f) => ({ to: f.to, from: f.from, rtoMs: f.rtoMs, completedAt: f.completedAt })),
      outageSince: state.openOutage?.since ?? null,
    },
    availability: assessed.availability,
    counts: state.counts,
    risks,
  };
};

/** The whole page's data. `risks` null: no risk register yet. Pure: time is passed in. */
export const statusView = (input: {
  states: ResourceState[];
  now: Date;
  targets: SloTargets;
  head: { treeSize: number; timestamp: string } | null;
  risks: OpenRisk[] | null;
  tracesUrl: string | null;
}): StatusView => ({
  generatedAt: input.now.toISOString(),
  resources: [...input.states]
    .sort((a, b) => a.resource.localeCompare(b.resource))
    .map((state) => resourceStatus(state, input.now, input.targets, (input.risks ?? []).filter((r) => r.resource === state.resource))),
  head: input.head ? { treeSize: input.head.treeSize, timestamp: input.head.timestamp } : null,
  risks: input.risks,
  tracesUrl: input.tracesUrl,
});
