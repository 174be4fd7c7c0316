import type { Observation } from '../probing/observation.js';
import { parseSynchronousStandbyNames } from '../probing/synchronous-standby-names.js';
import { type FailoverConfig, InvalidFailoverConfigError } from '../config/failover-config.policy.js';
import { type Instant, toMs } from './instant.js';

/*
 * The state of one protected resource as the failover service knows it, the facts that change it,
 * and the fold: initialState / evolve. The decider (failover.decider.ts) reads this state.
 *
 * Pure: no pg, no NATS, no timers, no clock. Every time is passed in (probe times on
 * observations, `at` on facts). The adapter probes, folds what it learns, asks the decider after
 * each probe round, carries out the decision and then folds the fact that it did so
 * (FailoverStarted, FenceApplied, NoCandidateReported…), which is what makes every decision
 * happen once rather than on every round.
 *
 * Times inside state are epoch milliseconds (serialisable, comparable).
 */

export type RecordedObservation = Omit<Observation, 'at'> & { readonly at: number };

/** A former primary: never routed to again until it is rebuilt (MemberRebuilt). */
export interface FencedMember {
  readonly member: string;
  /** The epoch in which it was primary. */
  readonly formerEpoch: number;
  readonly fencedAt: number;
  readonly cause: 'failover' | 'switchover';
  /** Reachable in its latest probe. */
  readonly present: boolean;
  /** How many times it went from absent to reachable; each one gets one fence decision. */
  readonly reappearances: number;
  /** The latest reappearance the adapter has fenced (FenceApplied). */
  readonly fencesApplied: number;
}

export interface FailoverInProgress {
  readonly epoch: number;
  /** The epoch the old primary held. */
  readonly fromEpoch: number;
  readonly from: string;
  readonly to: string;
  readonly planned: boolean;
  readonly startedAt: number;
}

/**
 * Synchronous replication of the current primary, as its healthy probes and this instance's own
 * changes show it. Read by the decider only for a `synchronous: true` resource.
 */
export interface SynchronousReplication {
  /** Standbys named in the primary's synchronous_standby_names (latest healthy probe, or as this leader last set it). */
  readonly named: readonly string[];
  /**
   * The standby named and reported `sync` in pg_stat_replication at the latest healthy probe that
   * showed one: every commit acknowledged since is on it. Kept while commits wait for a named standby
   * (none was acknowledged without it); null while relaxed, until a standby is confirmed again.
   */
  readonly confirmed: string | null;
  /** Since when commits may have been acknowledged without a standby (an empty setting seen or set); null once one is confirmed. */
  readonly relaxedSince: number | null;
  /** Since when the setting names standbys but none is `sync` (commits wait); null otherwise. */
  readonly blockedSince: number | null;
  /** What this instance last published (SynchronousReplicationChanged), so each change is announced once. */
  readonly announced: { readonly primary: string; readonly standby: string | null } | null;
}

export interface FailoverState {
  readonly resource: string;
  readonly primary: string;
  /** Fencing epoch: bumped by every failover or switchover, never lowered. */
  readonly epoch: number;
  readonly consecutiveFailures: number;
  readonly firstFailureAt: number | null;
  readonly lastFailure: string | null;
  /** Primary's `pg_current_wal_lsn()` in its latest healthy probe that reported one. */
  readonly lastKnownPrimaryLsn: string | null;
  readonly observations: Readonly<Record<string, RecordedObservation>>;
  readonly failover: FailoverInProgress | null;
  readonly fenced: Readonly<Record<string, FencedMember>>;
  /** firstFailureAt of the outage whose no-candidate decision has been published. */
  readonly noCandidateReportedFor: number | null;
  /**
   * Standbys whose promotion was abandoned during the current outage: not tried again until the
   * primary is healthy or another member is promoted (otherwise a standby that cannot be promoted
   * would be retried, with a new epoch and a new FailoverTriggered, every round).
   */
  readonly abandoned: Readonly<Record<string, { readonly epoch: number; readonly reason: string }>>;
  readonly synchronous: SynchronousReplication;
}

/** Nothing known yet of a primary's synchronous replication (a new primary starts here). */
const unknownSynchronous = (announced: SynchronousReplication['announced'] = null): SynchronousReplication => ({
  named: [],
  confirmed: null,
  relaxedSince: null,
  blockedSince: null,
  announced,
});

/**
 * State before any fact. `epoch` and `primary` come from the route record when the
 * service starts over an existing deployment; otherwise epoch 0 and the configured primary.
 */
export function initialState(config: FailoverConfig, from: { epoch?: number; primary?: string } = {}): FailoverState {
  const configured = config.members.find((m) => m.role === 'primary');
  const primary = from.primary ?? configured?.name;
  if (!primary) throw new InvalidFailoverConfigError(config.resource, ["no member has role 'primary'"]);
  return {
    resource: config.resource,
    primary,
    epoch: from.epoch ?? 0,
    consecutiveFailures: 0,
    firstFailureAt: null,
    lastFailure: null,
    lastKnownPrimaryLsn: null,
    observations: {},
    failover: null,
    fenced: {},
    noCandidateReportedFor: null,
    abandoned: {},
    synchronous: unknownSynchronous(),
  };
}

/** True for a former primary that must not be routed to (nor promoted) until rebuilt. */
export const isFenced = (state: FailoverState, member: string): boolean => member in state.fenced;

// ─── events ──────────────────────────────────────────────────────────────────────────────

export type FailoverEvent =
  | { readonly type: 'ProbeObserved'; readonly observation: Observation }
  /** The epoch was bumped (fencing token taken) and promotion of `to` begins. */
  | {
      readonly type: 'FailoverStarted';
      readonly epoch: number;
      readonly from: string;
      readonly to: string;
      readonly planned: boolean;
      readonly at: Instant;
    }
  /** `member` is out of recovery and writable; `lsn` is its WAL position then, if known. */
  | { readonly type: 'PromotionSucceeded'; readonly epoch: number; readonly member: string; readonly at: Instant; readonly lsn?: string }
  /** The promotion did not happen (the target is confirmed not promoted); the old primary stays primary. */
  | { readonly type: 'FailoverAbandoned'; readonly epoch: number; readonly reason: string; readonly at: Instant }
  /** The adapter made a reappeared former primary read-only and published that it is degraded. */
  | { readonly type: 'FenceApplied'; readonly member: string; readonly reappearance: number; readonly at: Instant }
  /** A former primary was rewound or rebuilt as a standby and may be promoted again. */
  | { readonly type: 'MemberRebuilt'; readonly member: string; readonly at: Instant }
  /**
   * The leader set the primary's synchronous_standby_names to name `standby` (null: relaxed, no
   * standby) — or found it already so — and published SynchronousReplicationChanged.
   */
  | { readonly type: 'SynchronousStandbyChanged'; readonly primary: string; readonly standby: string | null; readonly at: Instant }
  /** The adapter published that no standby qualified for the outage that began at firstFailureAt. */
  | { readonly type: 'NoCandidateReported'; readonly firstFailureAt: Instant; readonly at: Instant }
  /**
   * The shared route record (written by whichever instance leads) says who is primary at which
   * epoch and which former primaries are fenced. Followers fold it to stay current; a leader folds
   * its own writes (no change) and an operator's "rebuilt" (a member leaves the fenced set).
   */
  | {
      readonly type: 'RouteAdopted';
      readonly epoch: number;
      readonly primary: string;
      readonly fenced: readonly AdoptedFence[];
      readonly at: Instant;
    };

/** A fenced former primary as the route record lists it. */
export interface AdoptedFence {
  readonly member: string;
  readonly formerEpoch: number;
  readonly cause: 'failover' | 'switchover';
  /** Epoch milliseconds or ISO text. */
  readonly fencedAt: Instant | string;
}

/**
 * Folds one fact into the state. Redelivered or out-of-date facts change nothing: an
 * observation no newer than the member's latest, a FailoverStarted whose epoch is not
 * above the current one, a promotion or abandonment of a failover that is not in progress.
 */
export function evolve(state: FailoverState, event: FailoverEvent): FailoverState {
  switch (event.type) {
    case 'ProbeObserved':
      return observe(state, event.observation);

    case 'FailoverStarted': {
      if (event.epoch <= state.epoch) return state;
      return {
        ...state,
        epoch: event.epoch,
        failover: {
          epoch: event.epoch,
          fromEpoch: state.epoch,
          from: event.from,
          to: event.to,
          planned: event.planned,
          startedAt: toMs(event.at, 'FailoverStarted.at'),
        },
      };
    }

    case 'PromotionSucceeded': {
      const failover = state.failover;
      if (!failover || failover.epoch !== event.epoch || failover.to !== event.member) return state;
      // If the old primary is already back (or never left, in a switchover), that is its first reappearance.
      const present = state.observations[failover.from]?.reachable === true;
      const fencedMember: FencedMember = {
        member: failover.from,
        formerEpoch: failover.fromEpoch,
        fencedAt: toMs(event.at, 'PromotionSucceeded.at'),
        cause: failover.planned ? 'switchover' : 'failover',
        present,
        reappearances: present ? 1 : 0,
        fencesApplied: 0,
      };
      return {
        ...state,
        primary: event.member,
        consecutiveFailures: 0,
        firstFailureAt: null,
        lastFailure: null,
        lastKnownPrimaryLsn: event.lsn ?? null,
        failover: null,
        fenced: { ...state.fenced, [failover.from]: fencedMember },
        abandoned: {},
        synchronous: unknownSynchronous(state.synchronous.announced),
      };
    }

    case 'FailoverAbandoned': {
      const failover = state.failover;
      if (!failover || failover.epoch !== event.epoch) return state;
      // The epoch stays bumped: epochs only grow, so a late writer holding the old one stays fenced.
      return { ...state, failover: null, abandoned: { ...state.abandoned, [failover.to]: { epoch: event.epoch, reason: event.reason } } };
    }

    case 'FenceApplied': {
      const fenced = state.fenced[event.member];
      if (!fenced) return state;
      const fencesApplied = Math.max(fenced.fencesApplied, event.reappearance);
      if (fencesApplied === fenced.fencesApplied) return state;
      return { ...state, fenced: { ...state.fenced, [event.member]: { ...fenced, fencesApplied } } };
    }

    case 'MemberRebuilt': {
      if (!state.fenced[event.member]) return state;
      const { [event.member]: _rebuilt, ...fenced } = state.fenced;
      return { ...state, fenced };
    }

    case 'SynchronousStandbyChanged': {
      if (event.primary !== state.primary) return state;
      const at = toMs(event.at, 'SynchronousStandbyChanged.at');
      const announced = { primary: event.primary, standby: event.standby };
      const synchronous: SynchronousReplication =
        event.standby === null
          ? { ...state.synchronous, named: [], confirmed: null, relaxedSince: state.synchronous.relaxedSince ?? at, blockedSince: null, announced }
          : // Confirmed only once the primary reports it `sync`: until then commits wait for it.
            { ...state.synchronous, named: [event.standby], announced };
      return { ...state, synchronous };
    }

    case 'NoCandidateReported':
      return { ...state, noCandidateReportedFor: toMs(event.firstFailureAt, 'NoCandidateReported.firstFailureAt') };

    case 'RouteAdopted':
      return adoptRoute(state, event);

    default: {
      const unreachable: never = event;
      throw new Error(`unknown failover event ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * Older routes change nothing, nor does a route while this instance's own failover is under way
 * (its FailoverStarted epoch is ahead of, or equal to, the route it is about to write). The same
 * primary and epoch only syncs the fenced set, keeping what this instance saw of each member.
 * A newer route is someone else's failover: adopt its primary and epoch with a fresh failure count.
 */
function adoptRoute(state: FailoverState, event: Extract<FailoverEvent, { type: 'RouteAdopted' }>): FailoverState {
  if (event.epoch < state.epoch) return state;
  if (state.failover && event.epoch <= state.failover.epoch) return state;
  const same = event.epoch === state.epoch && event.primary === state.primary;
  const fenced: Record<string, FencedMember> = {};
  for (const f of event.fenced) {
    const known = state.fenced[f.member];
    if (known) {
      fenced[f.member] = known;
      continue;
    }
    // Present now counts as a reappearance still to fence: the instance that wrote the route may
    // have died before it did (making a member read-only twice is harmless).
    const present = state.observations[f.member]?.reachable === true;
    fenced[f.member] = {
      member: f.member,
      formerEpoch: f.formerEpoch,
      fencedAt: toMs(f.fencedAt, `fencedAt of ${f.member}`),
      cause: f.cause,
      present,
      reappearances: present ? 1 : 0,
      fencesApplied: 0,
    };
  }
  const unchangedFences =
    Object.keys(fenced).length === Object.keys(state.fenced).length && Object.keys(fenced).every((m) => state.fenced[m] === fenced[m]);
  if (same) return unchangedFences ? state : { ...state, fenced };
  const seen = state.observations[event.primary];
  const seenAsPrimary = seen?.reachable === true && seen.inRecovery === false ? (seen.currentLsn ?? null) : null;
  return {
    ...state,
    primary: event.primary,
    epoch: event.epoch,
    consecutiveFailures: 0,
    firstFailureAt: null,
    lastFailure: null,
    lastKnownPrimaryLsn: seenAsPrimary,
    failover: null,
    fenced,
    noCandidateReportedFor: null,
    abandoned: {},
    synchronous: unknownSynchronous(state.synchronous.announced),
  };
}

function observe(state: FailoverState, observation: Observation): FailoverState {
  const at = toMs(observation.at, `observation of ${observation.member}`);
  const previous = state.observations[observation.member];
  if (previous && at <= previous.at) return state; // redelivered or overtaken by a newer probe
  const recorded: RecordedObservation = { ...observation, at };
  let next: FailoverState = { ...state, observations: { ...state.observations, [observation.member]: recorded } };

  if (observation.member === state.primary) {
    const isPrimary = observation.reachable && observation.inRecovery !== true;
    next = isPrimary
      ? {
          ...next,
          consecutiveFailures: 0,
          firstFailureAt: null,
          lastFailure: null,
          lastKnownPrimaryLsn: observation.currentLsn ?? state.lastKnownPrimaryLsn,
          abandoned: Object.keys(state.abandoned).length ? {} : state.abandoned,
          synchronous: observeSynchronous(state.synchronous, observation, at),
        }
      : {
          ...next,
          consecutiveFailures: state.consecutiveFailures + 1,
          firstFailureAt: state.firstFailureAt ?? at,
          lastFailure: observation.reachable
            ? 'reports pg_is_in_recovery = true, so it is not a primary'
            : (observation.error ?? 'unreachable'),
        };
  }

  const fenced = state.fenced[observation.member];
  if (fenced && observation.reachable !== fenced.present) {
    next = {
      ...next,
      fenced: {
        ...next.fenced,
        [observation.member]: {
          ...fenced,
          present: observation.reachable,
          reappearances: fenced.reappearances + (observation.reachable ? 1 : 0),
        },
      },
    };
  }
  return next;
}

/**
 * What a healthy primary probe says of synchronous replication: the standbys named, the one that
 * is `sync` (it then holds every acknowledged commit), whether commits are acknowledged without
 * a standby (empty setting) or wait for one that is not `sync` yet (blocked).
 */
function observeSynchronous(previous: SynchronousReplication, observation: Observation, at: number): SynchronousReplication {
  if (observation.synchronousStandbyNames === undefined) return previous;
  const named = parseSynchronousStandbyNames(observation.synchronousStandbyNames);
  if (named.length === 0) return { ...previous, named, confirmed: null, relaxedSince: previous.relaxedSince ?? at, blockedSince: null };
  const sync = (observation.replication ?? []).find((r) => r.syncState === 'sync' && named.includes(r.name));
  if (sync) return { ...previous, named, confirmed: sync.name, relaxedSince: null, blockedSince: null };
  return { ...previous, named, blockedSince: previous.blockedSince ?? at };
}
