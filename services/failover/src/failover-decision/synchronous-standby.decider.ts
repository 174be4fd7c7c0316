import type { FailoverConfig } from '../config/failover-config.policy.js';
import { parseLsn } from '../probing/lsn.js';
import { synchronousStandbyNames } from '../probing/synchronous-standby-names.js';
import type { NoAction } from './failover.decider.js';
import type { FailoverState } from './failover.state.js';
import { type Instant, toMs } from './instant.js';

/*
 * Which standby a `synchronous: true` resource's primary waits for (Patroni's synchronous mode):
 * state → decision, pure, with `now` passed in. The leader asks after each probe round in which
 * the failover decider had nothing to do, carries the decision out (ALTER SYSTEM SET
 * synchronous_standby_names, reload, SynchronousReplicationChanged) and folds
 * SynchronousStandbyChanged, which is what makes each change happen and be announced once.
 *
 * Rules, on a healthy primary only:
 * - keep the named standby while it is healthy: streaming in the primary's pg_stat_replication and
 *   answering its own probes in recovery;
 * - otherwise name the healthy standby that has received the most WAL (configuration order on a tie),
 *   at once: moving costs commits a short wait while it catches up, never an acknowledged commit;
 * - with no healthy standby, keep the setting while a named standby still acknowledges (`sync`); once
 *   commits have waited `relaxSynchronousAfterMs` with none to acknowledge them, relax (empty
 *   setting: writes go on), and say so;
 * - name a standby again as soon as one is healthy (restored).
 */

/** One standby as the choice saw it: the `standbys` of SynchronousReplicationChanged. */
export interface SynchronousCandidate {
  readonly member: string;
  readonly streaming: boolean;
  readonly eligible: boolean;
  readonly reason: string;
}

/** Set the primary's synchronous_standby_names to name `standby` (null: relax), or only announce it (`alter` false). */
export interface SetSynchronousStandby {
  readonly type: 'set-synchronous-standby';
  readonly resource: string;
  readonly primary: string;
  readonly epoch: number;
  readonly standby: string | null;
  /** The first standby named before (null: none). */
  readonly previous: string | null;
  /** The value to put in force. */
  readonly setting: string;
  /** False when the setting is already in force and only this instance's announcement is missing. */
  readonly alter: boolean;
  readonly reason: string;
  readonly standbys: readonly SynchronousCandidate[];
}

export type SynchronousDecision = NoAction | SetSynchronousStandby;

const none = (reason: string): NoAction => ({ type: 'none', reason });

export function decideSynchronousStandby(state: FailoverState, config: FailoverConfig, nowInstant: Instant): SynchronousDecision {
  if (!config.synchronous) return none('synchronous mode is off');
  const now = toMs(nowInstant, 'now');
  const { primary, failover } = state;
  if (failover) return none(`failover in progress (epoch ${failover.epoch}): synchronous replication left as it is`);
  const seen = state.observations[primary];
  if (!seen?.reachable || seen.inRecovery !== false || state.consecutiveFailures > 0 || seen.synchronousStandbyNames === undefined)
    return none(`primary ${primary} not seen healthy: synchronous replication left as it is`);
  if (now - seen.at > config.staleAfterMs) return none(`primary ${primary}'s latest probe is ${now - seen.at} ms old: synchronous replication left as it is`);

  const { named, blockedSince, announced } = state.synchronous;
  const current = named[0] ?? null;
  const standbys = assess(state, config, now);
  const healthy = (member: string | null) => standbys.some((s) => s.member === member && s.eligible);
  const target = named.length === 1 && healthy(current) ? current : (best(state, standbys) ?? null);
  const why = (member: string) => standbys.find((s) => s.member === member)?.reason ?? 'not a configured member';
  const others = standbys.map((s) => `${s.member}: ${s.reason}`).join('; ');
  const set = (standby: string | null, alter: boolean, reason: string): SetSynchronousStandby => ({
    type: 'set-synchronous-standby',
    resource: state.resource,
    primary,
    epoch: state.epoch,
    standby,
    previous: current,
    setting: standby === null ? '' : synchronousStandbyNames(standby),
    alter,
    reason,
    standbys,
  });
  const isAnnounced = (standby: string | null) => announced?.primary === primary && announced.standby === standby;

  if (target !== null) {
    const inForce = named.length === 1 && current === target;
    if (inForce && isAnnounced(target)) return none(`commits wait for ${target}`);
    if (inForce) return set(target, false, `commits on ${primary} wait for ${target}, which is streaming`);
    if (current === null) return set(target, true, `${target} streams to ${primary}: commits wait for it again (synchronous replication restored)`);
    const wrong = named.length === 1 ? why(current) : `the setting names ${named.length} standbys, not one member`;
    return set(target, true, `${named.join(', ')} cannot be the synchronous standby (${wrong}); commits wait for ${target} instead`);
  }

  if (named.length === 0) {
    if (isAnnounced(null)) return none(`relaxed: no standby can be synchronous (${others || 'no standby'})`);
    return set(null, false, `no standby can acknowledge commits (${others || 'no standby'}); commits on ${primary} are acknowledged without a standby until one is back`);
  }
  // Commits wait for the named standby: only relax once they have waited long enough.
  if (blockedSince === null) return none(`no other standby can be synchronous (${others}); ${named.join(', ')} still acknowledges commits`);
  const waited = now - blockedSince;
  if (waited < config.relaxSynchronousAfterMs)
    return none(`commits have waited ${waited} ms for ${named.join(', ')} (${others}); relaxing at ${config.relaxSynchronousAfterMs} ms`);
  return set(
    null,
    true,
    `no standby can acknowledge commits (${others}); commits waited ${waited} ms (limit ${config.relaxSynchronousAfterMs} ms), so ${primary} acknowledges them without a standby until one is back`,
  );
}

/** Every member but the primary, in configuration order: can it be the synchronous standby, and why not. */
function assess(state: FailoverState, config: FailoverConfig, now: number): SynchronousCandidate[] {
  const { primary } = state;
  const rows = state.observations[primary]?.replication ?? [];
  return config.members
    .filter((m) => m.name !== primary)
    .map(({ name: member }) => {
      const row = rows.find((r) => r.name === member);
      const streaming = row?.state === 'streaming';
      const seen = state.observations[member];
      const no = (reason: string): SynchronousCandidate => ({ member, streaming, eligible: false, reason });
      const fenced = state.fenced[member];
      if (fenced) return no(`fenced: former primary of epoch ${fenced.formerEpoch}`);
      if (!streaming) return no(row ? `not streaming to ${primary} (state ${row.state})` : `not connected to ${primary}`);
      if (!seen) return no('not probed yet');
      if (now - seen.at > config.staleAfterMs) return no(`latest probe is ${now - seen.at} ms old (limit ${config.staleAfterMs} ms)`);
      if (!seen.reachable) return no(`unreachable: ${seen.error ?? 'no answer'}`);
      if (seen.inRecovery !== true) return no('not in recovery: not a standby');
      return { member, streaming, eligible: true, reason: `streaming to ${primary}` };
    });
}

/** The healthy standby that has received the most WAL; configuration order on a tie. */
function best(state: FailoverState, standbys: readonly SynchronousCandidate[]): string | undefined {
  const received = (member: string): bigint => {
    const lsn = state.observations[member]?.receiveLsn;
    try {
      return lsn ? parseLsn(lsn) : -1n;
    } catch {
      return -1n;
    }
  };
  return standbys
    .filter((s) => s.eligible)
    .map((s, order) => ({ member: s.member, order, lsn: received(s.member) }))
    .sort((a, b) => (a.lsn !== b.lsn ? (a.lsn > b.lsn ? -1 : 1) : a.order - b.order))[0]?.member;
}
