import type { Observation } from '../probing/observation.js';
import { lsnDiffBytes } from '../probing/lsn.js';

/**
 * What a load balancer's health check answers for one member (Patroni's `/primary` and `/replica`,
 * per member). Pure: the route, the latest probes and the clock are passed in.
 */
export type CheckAnswer = { healthy: true; detail: string } | { healthy: false; detail: string };

export interface MemberCheckInput {
  member: string;
  /** The routed primary (the route record in KV), or null when none is routed. */
  routedPrimary: string | null;
  /** This instance's latest probe of each member. */
  observations: Readonly<Record<string, Observation | undefined>>;
  nowMs: number;
  /** A probe older than this says nothing about now (a few probe intervals). */
  maxProbeAgeMs: number;
}

const fresh = (observation: Observation | undefined, input: MemberCheckInput): observation is Observation =>
  !!observation && input.nowMs - new Date(observation.at).getTime() <= input.maxProbeAgeMs;

/** 200 only for the routed primary, answering, out of recovery and not fenced read-only. */
export const primaryCheck = (input: MemberCheckInput): CheckAnswer => {
  const { member, routedPrimary } = input;
  if (routedPrimary !== member) return { healthy: false, detail: `${member} is not the routed primary (${routedPrimary ?? 'none is'})` };
  const seen = input.observations[member];
  if (!fresh(seen, input)) return { healthy: false, detail: `${member} has not been probed within ${input.maxProbeAgeMs} ms` };
  if (!seen.reachable) return { healthy: false, detail: `${member} does not answer` };
  if (seen.inRecovery) return { healthy: false, detail: `${member} is routed but still in recovery (promotion under way)` };
  if (seen.readOnly) return { healthy: false, detail: `${member} is read-only (fenced)` };
  return { healthy: true, detail: `${member} is the primary` };
};

/**
 * 200 only for a standby that streams from the routed primary (listed `streaming` in the primary's
 * `pg_stat_replication`) and has replayed to within `maxLagBytes` of the primary's current WAL.
 */
export const replicaCheck = (input: MemberCheckInput & { maxLagBytes: number }): CheckAnswer => {
  const { member, routedPrimary } = input;
  if (routedPrimary === null) return { healthy: false, detail: 'no primary is routed' };
  if (routedPrimary === member) return { healthy: false, detail: `${member} is the primary, not a replica` };
  const seen = input.observations[member];
  if (!fresh(seen, input)) return { healthy: false, detail: `${member} has not been probed within ${input.maxProbeAgeMs} ms` };
  if (!seen.reachable) return { healthy: false, detail: `${member} does not answer` };
  if (!seen.inRecovery) return { healthy: false, detail: `${member} is not in recovery (not a standby; a former primary?)` };
  const primary = input.observations[routedPrimary];
  if (!fresh(primary, input) || !primary.reachable || !primary.currentLsn) return { healthy: false, detail: `the primary ${routedPrimary} has no fresh probe to measure lag against` };
  const row = primary.replication?.find((r) => r.name === member);
  if (row?.state !== 'streaming') return { healthy: false, detail: `${member} is not streaming from ${routedPrimary} (${row ? row.state : 'not connected'})` };
  if (!seen.replayLsn) return { healthy: false, detail: `${member} reports no replay position` };
  const lag = lsnDiffBytes(primary.currentLsn, seen.replayLsn);
  const behind = lag > 0n ? lag : 0n;
  if (behind > BigInt(input.maxLagBytes)) return { healthy: false, detail: `${member} is ${behind} bytes behind ${routedPrimary} (more than ${input.maxLagBytes})` };
  return { healthy: true, detail: `${member} streams from ${routedPrimary}, ${behind} bytes behind` };
};
