import { METRICS, type MetricSpec } from '@continuity/telemetry';
import type { ResourceState, SloTargets } from '../resource-state/resource-state.projection.js';

/** One value of one gauge, as an observable callback reports it. */
export interface Sample {
  metric: MetricSpec;
  value: number;
  attributes: Record<string, string>;
}

const seconds = (ms: number) => ms / 1000;

/**
 * What an SRE alerts on for one resource, from its projected state at `now` (pure: the time comes
 * in). A resource never verified has no recovery-point age (absent, not zero: `absent()` and the
 * "never verified" alert see it) but counts its backups and verdicts.
 */
export const resourceSamples = (state: ResourceState, now: number, targets: SloTargets): Sample[] => {
  const resource = state.resource;
  const at = { resource };
  const samples: Sample[] = [
    { metric: METRICS.rpoTarget, value: seconds(targets.rpoMs), attributes: at },
    { metric: METRICS.backups, value: state.counts.backupsTaken, attributes: { resource, outcome: 'created' } },
    { metric: METRICS.backups, value: state.counts.backupsFailed, attributes: { resource, outcome: 'failed' } },
    { metric: METRICS.verdicts, value: state.counts.verificationsPassed, attributes: { resource, verdict: 'passed' } },
    { metric: METRICS.verdicts, value: state.counts.verificationsFailed, attributes: { resource, verdict: 'failed' } },
    { metric: METRICS.failovers, value: state.counts.failovers, attributes: at },
    // An open outage counts up to now: the alert fires while it lasts, not only once it ended.
    { metric: METRICS.downtime, value: seconds(state.downtimeMs + (state.openOutage ? Math.max(0, now - Date.parse(state.openOutage.since)) : 0)), attributes: at },
  ];
  if (state.lastBackup) samples.push({ metric: METRICS.lastBackupAge, value: seconds(Math.max(0, now - Date.parse(state.lastBackup.recoveryPoint))), attributes: at });
  const verified = state.lastVerified;
  if (verified) {
    const ageMs = Math.max(0, now - Date.parse(verified.recoveryPoint));
    samples.push(
      { metric: METRICS.recoveryPointAge, value: seconds(ageMs), attributes: at },
      { metric: METRICS.rpoExposure, value: ageMs / targets.rpoMs, attributes: at },
      { metric: METRICS.copiesVerified, value: verified.passedCopies.length, attributes: at },
      { metric: METRICS.threeTwoOne, value: verified.threeTwoOne.compliant ? 1 : 0, attributes: at },
    );
    if (verified.restoreMs !== null) samples.push({ metric: METRICS.restoreTestDuration, value: seconds(verified.restoreMs), attributes: at });
  }
  return samples;
};

/** The ledger's size and how fresh its newest signed head is (none signed yet: no age). */
export const ledgerSamples = (ledger: { entries: number; signedHead: { treeSize: number; timestamp: string } | null }, now: number): Sample[] => {
  const samples: Sample[] = [{ metric: METRICS.ledgerEntries, value: ledger.entries, attributes: {} }];
  if (ledger.signedHead) {
    samples.push(
      { metric: METRICS.ledgerSignedSize, value: ledger.signedHead.treeSize, attributes: {} },
      { metric: METRICS.ledgerSignedHeadAge, value: seconds(Math.max(0, now - Date.parse(ledger.signedHead.timestamp))), attributes: {} },
    );
  }
  return samples;
};

/** The gauges these samples report on (each registered once). */
export const AUDIT_GAUGES: readonly MetricSpec[] = Object.values(METRICS).filter((m) => m.service === 'audit');
