import { type FailoverConfig, resolveFailoverConfig } from '../config/failover-config.policy.js';
import type { Observation } from '../probing/observation.js';
import { decide, type FailoverCommand, type FailoverDecision } from '../failover-decision/failover.decider.js';
import { evolve, type FailoverEvent, initialState } from '../failover-decision/failover.state.js';

/*
 * Facts, commands and given(facts).when(command).then(decision) for the failover decider's
 * specs, shared so that every spec builds the same cluster the same way. Test code only.
 */

export const T0 = Date.parse('2026-11-26T09:00:00.000Z');
export const t = (ms: number) => T0 + ms;
export const LIMIT = 16 * 1024 * 1024; // 16777216: one WAL segment

export const config = resolveFailoverConfig({
  resource: 'orders-db',
  members: [
    { name: 'pg-a', role: 'primary' },
    { name: 'pg-b', role: 'standby' },
    { name: 'pg-c', role: 'standby' },
  ],
  maxLagBytes: LIMIT,
  mode: 'automatic',
});

/** The same cluster in synchronous mode (relax after 1500 ms, the default: 3 × 500 ms). */
export const syncConfig: FailoverConfig = { ...config, synchronous: true };

// ─── facts ───
export const probe = (observation: Observation): FailoverEvent => ({ type: 'ProbeObserved', observation });
export const primaryUp = (member: string, ms: number, currentLsn = '0/5000000') =>
  probe({ member, at: t(ms), reachable: true, inRecovery: false, currentLsn });
/**
 * A healthy primary probe in synchronous mode: its synchronous_standby_names and pg_stat_replication
 * (`streaming` lists standbys streaming; `sync` the one reported sync).
 */
export const primarySync = (member: string, ms: number, names: string, streaming: string[], sync: string | null = null, currentLsn = '0/5000000') =>
  probe({
    member,
    at: t(ms),
    reachable: true,
    inRecovery: false,
    currentLsn,
    synchronousStandbyNames: names,
    replication: streaming.map((name) => ({ name, state: 'streaming', syncState: name === sync ? 'sync' : 'async' })),
  });
export const syncChanged = (primary: string, standby: string | null, ms: number): FailoverEvent => ({ type: 'SynchronousStandbyChanged', primary, standby, at: t(ms) });
export const down = (member: string, ms: number, error = 'connect ECONNREFUSED') =>
  probe({ member, at: t(ms), reachable: false, error });
export const standby = (member: string, ms: number, receiveLsn: string, replayLsn = receiveLsn) =>
  probe({ member, at: t(ms), reachable: true, inRecovery: true, receiveLsn, replayLsn });
export const started = (epoch: number, from: string, to: string, ms: number, planned = false): FailoverEvent => ({
  type: 'FailoverStarted',
  epoch,
  from,
  to,
  planned,
  at: t(ms),
});
export const promoted = (epoch: number, member: string, ms: number, lsn?: string): FailoverEvent => ({
  type: 'PromotionSucceeded',
  epoch,
  member,
  at: t(ms),
  lsn,
});

// ─── commands ───
export const evaluate = (ms: number): FailoverCommand => ({ type: 'Evaluate', now: t(ms) });
export const switchoverTo = (to: string, ms: number): FailoverCommand => ({ type: 'RequestSwitchover', to, now: t(ms) });

/** given(facts).when(command).then(decision) */
export const given = (...events: FailoverEvent[]) => ({
  when: (command: FailoverCommand, cfg: FailoverConfig = config) => {
    const decision = decide(events.reduce(evolve, initialState(cfg)), command, cfg);
    return {
      decision,
      then: (expected: Partial<FailoverDecision> | Record<string, unknown>) => expect(decision).toMatchObject(expected),
    };
  },
});

// A healthy cluster at time 0: pg-b fully caught up, pg-c 256 bytes behind.
export const healthy = [primaryUp('pg-a', 0), standby('pg-b', 0, '0/5000000'), standby('pg-c', 0, '0/4FFFF00')];
/** The primary fails three probes in a row (500, 1000, 1500); standbys probed alongside. */
export const primaryFails3 = (b = '0/5000000', c = '0/4FFFF00') => [
  down('pg-a', 500),
  down('pg-a', 1000),
  down('pg-a', 1500),
  standby('pg-b', 1500, b),
  standby('pg-c', 1500, c),
];
/** pg-a → pg-b at epoch 1, completed. */
export const failedOverToB = [...healthy, ...primaryFails3(), started(1, 'pg-a', 'pg-b', 1510), promoted(1, 'pg-b', 1900, '0/5000000')];
