import type { FailoverCandidate } from '@continuity/contracts';
import type { FailoverConfig } from '../config/failover-config.policy.js';
import { parseLsn } from '../probing/lsn.js';
import type { FailoverState } from './failover.state.js';
import { type Instant, toMs } from './instant.js';

/*
 * The decision core of automatic PostgreSQL failover: commands → decisions, over the state that
 * failover.state.ts folds (initialState / evolve).
 *
 * Pure: no pg, no NATS, no timers, no clock. `now` comes in on each command. A decision is
 * carried out by the adapter, which then folds the fact that it did so; that fact (not this
 * function) is what stops the same decision being made on every round.
 *
 * Times inside decisions are epoch milliseconds (serialisable, comparable).
 */

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
  const rule = synchronousRule(state, config);
  const { candidates, chosen } = assessStandbys(state, config, now, { enforceLagLimit: true, synchronousOnly: rule.only });
  // A standby is only eligible when its lag, and so the primary's LSN, is known.
  const primaryLsn = state.lastKnownPrimaryLsn;
  if (!chosen || primaryLsn === null) {
    if (state.noCandidateReportedFor === firstFailureAt) return none(`${failed}; no eligible standby (already reported)`);
    return {
      type: 'no-candidate',
      resource: state.resource,
      from: primary,
      epoch: state.epoch,
      reason: `${failed}${rule.note}; no eligible standby`,
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
    reason: `${failed}${rule.note}`,
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

// ─── synchronous mode ────────────────────────────────────────────────────────────────────

/**
 * Which standbys a failover may promote in synchronous mode. While the primary's commits waited
 * for a standby, only the one confirmed `sync` holds every acknowledged commit: it alone may be
 * promoted (whatever its lag: what it lacks was never acknowledged), and if it cannot be, nothing is.
 * Once relaxation was seen or announced, commits may have been acknowledged with no standby
 * holding them: the lag rule applies, and the decision says data may be lost.
 * `only`: undefined = no restriction; a name = that standby alone; null = none.
 */
function synchronousRule(state: FailoverState, config: FailoverConfig): { only: string | null | undefined; note: string } {
  if (!config.synchronous) return { only: undefined, note: '' };
  const { confirmed, relaxedSince } = state.synchronous;
  if (relaxedSince !== null)
    return { only: undefined, note: `; synchronous replication was relaxed at ${new Date(relaxedSince).toISOString()}, so commits acknowledged since may be lost` };
  if (confirmed !== null) return { only: confirmed, note: `; synchronous mode: only ${confirmed}, the synchronous standby, holds every acknowledged commit` };
  return { only: null, note: '; synchronous mode: no standby was confirmed synchronous, so any promotion could lose acknowledged commits' };
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
  options: { enforceLagLimit: boolean; target?: string; synchronousOnly?: string | null },
): { candidates: Candidate[]; chosen: Candidate | null } {
  const assessed = config.members
    .filter((m) => m.name !== state.primary)
    .map((m) => assessStandby(state, config, now, m.name, options));

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
    else if (a === best) reason = options.target !== undefined ? `requested switchover target (${lag})` : options.synchronousOnly ? `the synchronous standby (${lag})` : `most up-to-date eligible standby (${lag})`;
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
  options: { enforceLagLimit: boolean; synchronousOnly?: string | null },
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

  const { synchronousOnly } = options;
  if (synchronousOnly === null) return ineligible('no standby confirmed synchronous: it may lack acknowledged commits');
  if (synchronousOnly !== undefined && instance !== synchronousOnly)
    return ineligible(`not the synchronous standby (${synchronousOnly} is): it may lack acknowledged commits`);
  // The synchronous standby has every acknowledged commit: whatever it lacks was never acknowledged.
  const enforceLagLimit = options.enforceLagLimit && synchronousOnly === undefined;
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
