import type { FailoverCandidate } from '@continuity/contracts';

/*
 * The decision core of automatic PostgreSQL failover: initialState / evolve / decide.
 *
 * Pure: no pg, no NATS, no timers, no clock. Every time is passed in (probe times on
 * observations, `now` on commands). The adapter around it probes, folds the facts it
 * learns with `evolve`, asks `decide` after each probe round, carries out the decision and
 * then folds the fact that it did so (FailoverStarted, FenceApplied, NoCandidateReported…),
 * which is what makes every decision happen once rather than on every round.
 *
 * Times inside state and decisions are epoch milliseconds (serialisable, comparable).
 */

// ─── time ────────────────────────────────────────────────────────────────────────────────

/** A moment: a Date or epoch milliseconds. */
export type Instant = Date | number;

const toMs = (value: Instant | string, what: string): number => {
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : value.getTime();
  if (!Number.isFinite(ms)) throw new RangeError(`${what} is not a valid time: ${String(value)}`);
  return ms;
};

// ─── LSNs ────────────────────────────────────────────────────────────────────────────────

/** A WAL position that is not in PostgreSQL's `%X/%X` text form. */
export class InvalidLsnError extends Error {
  override readonly name = 'InvalidLsnError';
  readonly code = 'FAILOVER.INVALID_LSN';

  constructor(readonly value: unknown) {
    super(
      `invalid LSN ${typeof value === 'string' ? JSON.stringify(value) : String(value)}: ` +
        'expected PostgreSQL text form such as 0/3000060 or 16/B374D848 (two hex numbers of up to 8 digits)',
    );
  }
}

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** `16/B374D848` → 0x16B374D848n. Throws InvalidLsnError naming the bad value. */
export function parseLsn(text: string): bigint {
  const match = typeof text === 'string' ? LSN_TEXT.exec(text) : null;
  if (!match) throw new InvalidLsnError(text);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Bytes of WAL between two positions, `a − b` (as `pg_wal_lsn_diff(a, b)`); negative when a is behind b. */
export function lsnDiffBytes(a: string, b: string): bigint {
  return parseLsn(a) - parseLsn(b);
}

// ─── configuration ───────────────────────────────────────────────────────────────────────

export type MemberRole = 'primary' | 'standby';
export type FailoverMode = 'automatic' | 'manual';

export interface MemberConfig {
  readonly name: string;
  /** Role at start-up only; after a failover, the state says who is primary. */
  readonly role: MemberRole;
}

export interface FailoverConfigInput {
  readonly resource: string;
  readonly members: readonly MemberConfig[];
  /** Default 500. */
  readonly probeIntervalMs?: number;
  /** Consecutive failed probes of the primary before it is judged failed. Default 3. */
  readonly failuresBeforeFailover?: number;
  /** A standby whose latest probe is older than this is not promoted. Default 3 × probeIntervalMs. */
  readonly staleAfterMs?: number;
  /** Most WAL a standby may miss (primary's last known LSN − standby's receive LSN) and still be promoted: the bound on data lost. */
  readonly maxLagBytes: number;
  readonly mode: FailoverMode;
}

export type FailoverConfig = Required<FailoverConfigInput>;

export const DEFAULT_PROBE_INTERVAL_MS = 500;
export const DEFAULT_FAILURES_BEFORE_FAILOVER = 3;

/** A configuration that cannot work; lists every problem, not just the first. */
export class InvalidFailoverConfigError extends Error {
  override readonly name = 'InvalidFailoverConfigError';
  readonly code = 'FAILOVER.INVALID_CONFIG';

  constructor(
    readonly resource: string,
    readonly problems: string[],
  ) {
    super(`failover config for ${JSON.stringify(resource)} is invalid: ${problems.join('; ')}`);
  }
}

/** Applies the defaults and checks the configuration once, at start-up. */
export function resolveFailoverConfig(input: FailoverConfigInput): FailoverConfig {
  const probeIntervalMs = input.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
  const config: FailoverConfig = {
    resource: input.resource,
    members: input.members,
    probeIntervalMs,
    failuresBeforeFailover: input.failuresBeforeFailover ?? DEFAULT_FAILURES_BEFORE_FAILOVER,
    staleAfterMs: input.staleAfterMs ?? 3 * probeIntervalMs,
    maxLagBytes: input.maxLagBytes,
    mode: input.mode,
  };
  const problems: string[] = [];
  if (!config.resource) problems.push('resource is empty');
  const names = config.members.map((m) => m.name);
  if (names.some((n) => !n)) problems.push('a member has an empty name');
  const duplicates = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
  if (duplicates.length) problems.push(`duplicate member names: ${duplicates.join(', ')}`);
  const primaries = config.members.filter((m) => m.role === 'primary').length;
  if (primaries !== 1) problems.push(`exactly one member must have role 'primary' (found ${primaries})`);
  if (!config.members.some((m) => m.role === 'standby')) problems.push('no standby to fail over to');
  if (!(config.probeIntervalMs > 0)) problems.push(`probeIntervalMs must be > 0 (got ${config.probeIntervalMs})`);
  if (!Number.isInteger(config.failuresBeforeFailover) || config.failuresBeforeFailover < 1)
    problems.push(`failuresBeforeFailover must be an integer ≥ 1 (got ${config.failuresBeforeFailover})`);
  if (!(config.staleAfterMs > 0)) problems.push(`staleAfterMs must be > 0 (got ${config.staleAfterMs})`);
  if (!Number.isSafeInteger(config.maxLagBytes) || config.maxLagBytes < 0)
    problems.push(`maxLagBytes must be an integer ≥ 0 (got ${config.maxLagBytes})`);
  if (config.mode !== 'automatic' && config.mode !== 'manual')
    problems.push(`mode must be 'automatic' or 'manual' (got ${String(config.mode)})`);
  if (problems.length) throw new InvalidFailoverConfigError(config.resource, problems);
  return config;
}

// ─── observations, state ─────────────────────────────────────────────────────────────────

/** One probe of one member, as the adapter saw it. */
export interface Observation {
  readonly member: string;
  readonly at: Instant;
  readonly reachable: boolean;
  readonly error?: string;
  /** `pg_is_in_recovery()`. */
  readonly inRecovery?: boolean;
  /** Primary: `pg_current_wal_lsn()`. */
  readonly currentLsn?: string;
  /** Standby: `pg_last_wal_receive_lsn()`. */
  readonly receiveLsn?: string;
  /** Standby: `pg_last_wal_replay_lsn()`. */
  readonly replayLsn?: string;
  /** `default_transaction_read_only = on` (e.g. already fenced): new sessions do not write by default. */
  readonly readOnly?: boolean;
}

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
}

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

// ─── commands, decisions ─────────────────────────────────────────────────────────────────

export type FailoverCommand =
  /** After each probe round. */
  | { readonly type: 'Evaluate'; readonly now: Instant }
  /** A planned switchover to the standby `to`. */
  | { readonly type: 'RequestSwitchover'; readonly to: string; readonly now: Instant };

/** One standby as the decision saw it; the shape of the FailoverTriggered contract's candidates. */
export type Candidate = FailoverCandidate & { readonly reason: string };

export interface NoAction {
  readonly type: 'none';
  readonly reason: string;
}

/** Promote `to`: take epoch `epoch` (fold FailoverStarted), promote, route, fold PromotionSucceeded. */
export interface StartFailover {
  readonly type: 'failover';
  readonly resource: string;
  readonly from: string;
  readonly to: string;
  /** state.epoch + 1. */
  readonly epoch: number;
  readonly reason: string;
  readonly firstFailureAt: number;
  /** When the decider judged the primary failed (the Evaluate's `now`). */
  readonly detectedAt: number;
  /** Primary's last known LSN, against which lag was measured. */
  readonly primaryLsn: string;
  /** Chosen standby's lag: the bound on data lost. */
  readonly lagBytes: number;
  readonly candidates: readonly Candidate[];
}

/** The primary has failed and no standby qualifies: publish that, do not promote. */
export interface ReportNoCandidate {
  readonly type: 'no-candidate';
  readonly resource: string;
  readonly from: string;
  /** Unchanged: nothing was promoted. */
  readonly epoch: number;
  readonly reason: string;
  readonly firstFailureAt: number;
  readonly detectedAt: number;
  readonly candidates: readonly Candidate[];
}

/**
 * A planned switchover: make `from` read-only, wait until `to` has replayed `targetLsn`,
 * then promote `to` with epoch `epoch`. `targetLsn` is the primary's LSN at its latest
 * probe; writes accepted after that raise it, so the adapter re-reads `pg_current_wal_lsn()`
 * once `from` is read-only and waits for that (never for less than `targetLsn`).
 */
export interface StartSwitchover {
  readonly type: 'switchover';
  readonly resource: string;
  readonly from: string;
  readonly to: string;
  readonly epoch: number;
  readonly reason: string;
  readonly targetLsn: string;
  readonly lagBytes: number;
  readonly requestedAt: number;
  readonly candidates: readonly Candidate[];
}

/** A former primary is reachable again: make it read-only and publish that it is degraded. Once per reappearance. */
export interface FenceMember {
  readonly type: 'fence';
  readonly resource: string;
  readonly member: string;
  readonly formerEpoch: number;
  /** Current epoch. */
  readonly epoch: number;
  /** Echo in FenceApplied. */
  readonly reappearance: number;
  /** It answered out of recovery: it would accept writes (split brain) if anything reached it. */
  readonly acceptsWrites: boolean;
  readonly reason: string;
}

export type RejectionCode =
  | 'SWITCHOVER.FAILOVER_IN_PROGRESS'
  | 'SWITCHOVER.UNKNOWN_MEMBER'
  | 'SWITCHOVER.ALREADY_PRIMARY'
  | 'SWITCHOVER.PRIMARY_UNHEALTHY'
  | 'SWITCHOVER.PRIMARY_LSN_UNKNOWN'
  | 'SWITCHOVER.TARGET_NOT_ELIGIBLE';

/** A request that cannot be carried out, and why. */
export interface RejectRequest {
  readonly type: 'rejected';
  readonly code: RejectionCode;
  readonly reason: string;
}

export type FailoverDecision = NoAction | StartFailover | ReportNoCandidate | StartSwitchover | FenceMember | RejectRequest;

export function decide(state: FailoverState, command: FailoverCommand, config: FailoverConfig): FailoverDecision {
  switch (command.type) {
    case 'Evaluate':
      return evaluate(state, config, toMs(command.now, 'Evaluate.now'));
    case 'RequestSwitchover':
      return switchover(state, config, command.to, toMs(command.now, 'RequestSwitchover.now'));
    default: {
      const unreachable: never = command;
      throw new Error(`unknown failover command ${JSON.stringify(unreachable)}`);
    }
  }
}

const none = (reason: string): NoAction => ({ type: 'none', reason });

function evaluate(state: FailoverState, config: FailoverConfig, now: number): FailoverDecision {
  // Fencing first: a writable former primary is a split-brain risk whatever else is going on.
  const fence = pendingFence(state, config);
  if (fence) return fence;

  const { failover, primary } = state;
  if (failover) return none(`failover already in progress (epoch ${failover.epoch}: ${failover.from} → ${failover.to})`);
  if (!state.observations[primary]) return none(`primary ${primary} not probed yet`);
  if (state.consecutiveFailures === 0) return none(`primary ${primary} healthy`);

  const threshold = config.failuresBeforeFailover;
  const failures = state.consecutiveFailures;
  if (failures < threshold)
    return none(`primary ${primary} failed ${failures}/${threshold} probes (last: ${state.lastFailure})`);

  const failed = `primary ${primary} failed ${failures} consecutive probes (threshold ${threshold}; last: ${state.lastFailure})`;
  if (config.mode === 'manual') return none(`${failed}; mode is manual: no automatic failover`);

  const firstFailureAt = state.firstFailureAt ?? now;
  const { candidates, chosen } = assessStandbys(state, config, now, { enforceLagLimit: true });
  // A standby is only eligible when its lag, and so the primary's LSN, is known.
  const primaryLsn = state.lastKnownPrimaryLsn;
  if (!chosen || primaryLsn === null) {
    if (state.noCandidateReportedFor === firstFailureAt) return none(`${failed}; no eligible standby (already reported)`);
    return {
      type: 'no-candidate',
      resource: state.resource,
      from: primary,
      epoch: state.epoch,
      reason: `${failed}; no eligible standby`,
      firstFailureAt,
      detectedAt: now,
      candidates,
    };
  }
  return {
    type: 'failover',
    resource: state.resource,
    from: primary,
    to: chosen.instance,
    epoch: state.epoch + 1,
    reason: failed,
    firstFailureAt,
    detectedAt: now,
    primaryLsn,
    lagBytes: chosen.lagBytes ?? 0,
    candidates,
  };
}

function pendingFence(state: FailoverState, config: FailoverConfig): FenceMember | null {
  const order = config.members.map((m) => m.name);
  const pending = Object.values(state.fenced)
    .filter((f) => f.reappearances > f.fencesApplied)
    .sort((a, b) => order.indexOf(a.member) - order.indexOf(b.member));
  const fenced = pending[0];
  if (!fenced) return null;
  const seen = state.observations[fenced.member];
  const acceptsWrites = seen?.inRecovery === false && seen.readOnly !== true;
  const what =
    fenced.cause === 'switchover'
      ? `former primary of epoch ${fenced.formerEpoch} (demoted by a planned switchover) is up`
      : `former primary of epoch ${fenced.formerEpoch} came back`;
  return {
    type: 'fence',
    resource: state.resource,
    member: fenced.member,
    formerEpoch: fenced.formerEpoch,
    epoch: state.epoch,
    reappearance: fenced.reappearances,
    acceptsWrites,
    reason: `${what}${acceptsWrites ? ' and accepts writes' : seen?.inRecovery === false ? ' (out of recovery but read-only)' : ''}; needs rewind or rebuild`,
  };
}

function switchover(state: FailoverState, config: FailoverConfig, to: string, now: number): FailoverDecision {
  const reject = (code: RejectionCode, reason: string): RejectRequest => ({ type: 'rejected', code, reason });
  const { primary, failover } = state;

  if (failover)
    return reject(
      'SWITCHOVER.FAILOVER_IN_PROGRESS',
      `a failover is already in progress (epoch ${failover.epoch}: ${failover.from} → ${failover.to})`,
    );
  if (!config.members.some((m) => m.name === to))
    return reject('SWITCHOVER.UNKNOWN_MEMBER', `${to} is not a member of ${state.resource}`);
  if (to === primary) return reject('SWITCHOVER.ALREADY_PRIMARY', `${to} is already the primary`);

  const seen = state.observations[primary];
  const primaryProblem = !seen
    ? 'it has not been probed yet'
    : state.consecutiveFailures > 0
      ? `it failed its latest ${state.consecutiveFailures} probe(s) (last: ${state.lastFailure})`
      : now - seen.at > config.staleAfterMs
        ? `its latest probe is ${now - seen.at} ms old (limit ${config.staleAfterMs} ms)`
        : null;
  if (primaryProblem)
    return reject(
      'SWITCHOVER.PRIMARY_UNHEALTHY',
      `a switchover needs a healthy primary to hand over from, and ${primary} is not: ${primaryProblem}`,
    );
  const targetLsn = state.lastKnownPrimaryLsn;
  if (!targetLsn)
    return reject('SWITCHOVER.PRIMARY_LSN_UNKNOWN', `no WAL position known for primary ${primary}, so no target LSN to wait for`);

  // Lag is not a reason to refuse: the target catches up before promotion, so no data is lost.
  const { candidates } = assessStandbys(state, config, now, { enforceLagLimit: false, target: to });
  const target = candidates.find((c) => c.instance === to);
  if (!target?.eligible)
    return reject('SWITCHOVER.TARGET_NOT_ELIGIBLE', `${to} cannot take over: ${target?.reason ?? 'not a standby'}`);
  return {
    type: 'switchover',
    resource: state.resource,
    from: primary,
    to,
    epoch: state.epoch + 1,
    reason: `planned switchover ${primary} → ${to} requested`,
    targetLsn,
    lagBytes: target.lagBytes ?? 0,
    requestedAt: now,
    candidates,
  };
}

// ─── choosing a standby ──────────────────────────────────────────────────────────────────

interface Assessed {
  readonly instance: string;
  readonly lsn: string | null;
  readonly lagBytes: number | null;
  /** Null when eligible. */
  readonly problem: string | null;
  readonly receive: bigint;
  readonly replay: bigint;
}

/**
 * Every member but the primary, in configuration order, each eligible or not with the
 * reason. Lag is measured from what the standby has *received*: promotion replays all of
 * it first, so received-but-unreplayed WAL is not lost (it only lengthens the promotion).
 */
function assessStandbys(
  state: FailoverState,
  config: FailoverConfig,
  now: number,
  options: { enforceLagLimit: boolean; target?: string },
): { candidates: Candidate[]; chosen: Candidate | null } {
  const assessed = config.members
    .filter((m) => m.name !== state.primary)
    .map((m) => assessStandby(state, config, now, m.name, options.enforceLagLimit));

  const ranked = assessed
    .filter((a) => a.problem === null)
    .sort((a, b) =>
      a.receive !== b.receive
        ? a.receive > b.receive ? -1 : 1
        : a.replay !== b.replay
          ? a.replay > b.replay ? -1 : 1
          : a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0,
    );
  const best = options.target === undefined ? ranked[0] : ranked.find((a) => a.instance === options.target);

  const candidates = assessed.map((a): Candidate => {
    const lag = a.lagBytes === null ? 'lag unknown' : `lag ${a.lagBytes} bytes`;
    let reason: string;
    if (a.problem !== null) reason = a.problem;
    else if (a === best) reason = options.target === undefined ? `most up-to-date eligible standby (${lag})` : `requested switchover target (${lag})`;
    else if (options.target !== undefined) reason = `eligible (${lag}); not the requested target`;
    else if (best && a.receive < best.receive) reason = `eligible (${lag}); ${best.instance} has received more WAL`;
    else if (best && a.replay < best.replay) reason = `eligible (${lag}); same receive LSN as ${best.instance}, which has replayed more`;
    else reason = `eligible (${lag}); tied with ${best?.instance} on LSNs, which sorts first by name`;
    return { instance: a.instance, lsn: a.lsn, lagBytes: a.lagBytes, eligible: a.problem === null, reason };
  });
  return { candidates, chosen: best ? (candidates.find((c) => c.instance === best.instance) ?? null) : null };
}

function assessStandby(
  state: FailoverState,
  config: FailoverConfig,
  now: number,
  instance: string,
  enforceLagLimit: boolean,
): Assessed {
  const seen = state.observations[instance];
  const lsn = seen ? (seen.receiveLsn ?? seen.replayLsn ?? null) : null;
  const ineligible = (problem: string, lagBytes: number | null = null): Assessed => ({
    instance,
    lsn,
    lagBytes,
    problem,
    receive: -1n,
    replay: -1n,
  });

  const fenced = state.fenced[instance];
  if (fenced) return ineligible(`fenced: former primary of epoch ${fenced.formerEpoch}; needs rewind or rebuild`);
  const abandoned = state.abandoned[instance];
  if (abandoned) return ineligible(`its promotion at epoch ${abandoned.epoch} was abandoned in this outage (${abandoned.reason}); not retried until the primary recovers`);
  if (!seen) return ineligible('not probed yet');
  if (now - seen.at > config.staleAfterMs)
    return ineligible(`latest probe is ${now - seen.at} ms old (limit ${config.staleAfterMs} ms)`);
  if (!seen.reachable) return ineligible(`unreachable: ${seen.error ?? 'no answer'}`);
  if (seen.inRecovery !== true)
    return ineligible(
      seen.inRecovery === false ? 'not in recovery (pg_is_in_recovery = false): not a standby' : 'recovery state not reported',
    );
  if (lsn === null) return ineligible('reported no receive or replay LSN');

  let receive: bigint;
  let replay: bigint;
  try {
    receive = parseLsn(lsn);
    replay = seen.replayLsn === undefined ? -1n : parseLsn(seen.replayLsn);
  } catch (error) {
    return ineligible(error instanceof Error ? error.message : String(error));
  }

  const primaryLsn = state.lastKnownPrimaryLsn;
  if (primaryLsn === null) return ineligible(`lag unknown: no WAL position known for primary ${state.primary}`);
  let primaryPosition: bigint;
  try {
    primaryPosition = parseLsn(primaryLsn);
  } catch (error) {
    return ineligible(`lag unknown: primary's ${error instanceof Error ? error.message : String(error)}`);
  }
  // A standby ahead of the primary's last known LSN received WAL written after that probe: no lag.
  const lag = primaryPosition > receive ? primaryPosition - receive : 0n;
  const lagBytes = Number(lag);
  if (enforceLagLimit && lag > BigInt(config.maxLagBytes))
    return ineligible(`lag ${lag} bytes exceeds limit ${config.maxLagBytes}`, lagBytes);
  return { instance, lsn, lagBytes, problem: null, receive, replay };
}

// ─── RTO ─────────────────────────────────────────────────────────────────────────────────

export interface RtoTimeline {
  readonly firstFailureAt: Instant | string | null;
  readonly detectedAt: Instant | string;
  readonly routedAt: Instant | string;
}

/**
 * Recovery time: first failed probe → clients routed to the new primary (detection when
 * there was no failed probe, as in a switchover). Accepts Dates, epoch ms or ISO strings
 * (the FailoverCompleted timeline). Never negative: a clock step back yields 0.
 */
export function rtoMs(timeline: RtoTimeline): number {
  const start =
    timeline.firstFailureAt === null
      ? toMs(timeline.detectedAt, 'detectedAt')
      : toMs(timeline.firstFailureAt, 'firstFailureAt');
  return Math.max(0, toMs(timeline.routedAt, 'routedAt') - start);
}
