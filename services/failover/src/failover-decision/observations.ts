import type { FailoverObservation } from '@continuity/contracts';
import type { FailoverState, RecordedObservation } from './failover.state.js';

/**
 * The observations published with a decision (`FailoverTriggered.data.observations`), as data:
 * what each member looked like when the decision was taken. Pure.
 */
export const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** One probe in the contract's shape: what the probe did not report is null (an unreachable member reports nothing). */
export const observationRecord = (o: RecordedObservation): FailoverObservation => ({
  member: o.member,
  at: iso(o.at)!,
  reachable: o.reachable,
  inRecovery: o.reachable ? (o.inRecovery ?? null) : null,
  readOnly: o.reachable ? o.readOnly === true : null,
  currentLsn: o.currentLsn ?? null,
  receiveLsn: o.receiveLsn ?? null,
  replayLsn: o.replayLsn ?? null,
  error: o.reachable ? null : (o.error ?? 'no answer'),
});

/** How many of the primary's consecutive failed probes are kept to publish with a decision. */
export const MAX_FAILED_PROBES_KEPT = 20;

/**
 * The primary's failed probes of the current outage, oldest first, after `folded` (the probe just
 * folded into `state`, or null when the decider ignored it as out of date): `kept` plus `folded`
 * when it is a failure of the current primary; empty when the primary is healthy (or changed).
 * Keeps the latest MAX_FAILED_PROBES_KEPT (a manual-mode outage can last for thousands of rounds).
 */
export const keepFailedPrimaryProbes = (
  kept: readonly RecordedObservation[],
  state: FailoverState,
  folded: RecordedObservation | null,
): RecordedObservation[] => {
  const since = state.firstFailureAt;
  if (state.consecutiveFailures === 0 || since === null) return [];
  const current = kept.filter((o) => o.member === state.primary && o.at >= since);
  if (folded && folded.member === state.primary && folded.at >= since) current.push(folded);
  return current.slice(-MAX_FAILED_PROBES_KEPT);
};

/**
 * The probes behind a decision, in configuration order of members: for the old primary
 * (`from`), each of its consecutive failed probes of this outage when there are any, else its
 * latest probe; for every other member its latest probe. A member never probed is absent.
 */
export const observationsBehind = (
  state: FailoverState,
  members: readonly string[],
  from: string,
  failedPrimaryProbes: readonly RecordedObservation[],
): FailoverObservation[] =>
  members.flatMap((member) => {
    const failed =
      member === from && state.firstFailureAt !== null ? failedPrimaryProbes.filter((o) => o.member === member && o.at >= state.firstFailureAt!) : [];
    if (failed.length) return failed.map(observationRecord);
    const latest = state.observations[member];
    return latest ? [observationRecord(latest)] : [];
  });
