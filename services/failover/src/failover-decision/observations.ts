import type { FailoverState, RecordedObservation } from './failover.decider.js';

/**
 * Text for the `reason` of published events: what each member looked like when the decision was
 * taken (the FailoverTriggered contract has no field for observations; the reason carries them).
 * Pure.
 */
export const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export const describeObservation = (o: RecordedObservation | undefined, name: string): string => {
  if (!o) return `${name}: not probed`;
  const when = `at ${iso(o.at)}`;
  if (!o.reachable) return `${name}: unreachable (${o.error ?? 'no answer'}) ${when}`;
  if (o.inRecovery === false) return `${name}: primary${o.readOnly ? ' (read-only)' : ''}, WAL ${o.currentLsn ?? '?'} ${when}`;
  return `${name}: standby, received ${o.receiveLsn ?? '?'}, replayed ${o.replayLsn ?? '?'} ${when}`;
};

export const describeObservations = (state: FailoverState, members: readonly string[]): string =>
  members.map((m) => describeObservation(state.observations[m], m)).join('; ');
