import { v7 as uuidv7 } from 'uuid';
import { type Attributes, type Span, trace } from '@opentelemetry/api';
import { inSpan } from '@continuity/telemetry';
import { causedBy, type ContinuityPublisher, type ContinuityEvent, type FailoverCompletedV2, type FailoverObservation } from '@continuity/contracts';
import type { MemberEndpoint, ResourceFailover } from '../config/failover-config.loader.js';
import { redactConnection } from '../config/failover-config.loader.js';
import type { EpochRecord, FailoverStore } from '../coordination/failover-store.js';
import { LeaderLease } from '../coordination/leader-lease.js';
import { PgMember, primaryConninfoFor } from '../probing/pg-member.js';
import type { RouteRecord } from '@continuity/contracts';
import { leaseKey } from '@continuity/contracts';
import { lsnDiffBytes } from '../probing/lsn.js';
import type { Observation } from '../probing/observation.js';
import { decide, FailoverDecision, FenceMember, ReportNoCandidate, RejectRequest, StartFailover, StartSwitchover } from './failover.decider.js';
import { evolve, FailoverEvent, FailoverState, initialState, RecordedObservation } from './failover.state.js';
import { EpochConflictError, MemberNotStandbyError, NotLeaderError, SwitchoverAbandonedError, UnknownMemberError } from './failover.errors.js';
import { rtoMs } from './rto.js';
import { iso, keepFailedPrimaryProbes, observationsBehind } from './observations.js';

export interface SupervisorLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug?(message: string): void;
}

export interface SupervisorDeps {
  readonly settings: ResourceFailover;
  readonly store: FailoverStore;
  readonly publisher: ContinuityPublisher;
  readonly instanceId: string;
  readonly logger: SupervisorLogger;
  /** Told of every completed failover or switchover (metrics). */
  readonly onCompleted?: (resource: string, completed: CompletedFailover) => void;
}

/** One span per failover step taken; events published inside it are its children. */
const traced = <T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>) => inSpan('@continuity/failover', name, attributes, fn);

export interface CompletedFailover {
  failoverId: string;
  epoch: number;
  from: string;
  to: string;
  planned: boolean;
  rtoMs: number;
  replicationLagBytes: number | null;
  timeline: FailoverCompletedV2['timeline'];
}

type EventRef = Pick<ContinuityEvent, 'id' | 'correlationId'>;

/** One failover or switchover under way: what its events (FailoverAbandoned, FailoverCompleted) say it was. */
interface FailoverAttempt {
  failoverId: string;
  epoch: number;
  from: string;
  to: string;
  planned: boolean;
  /** The instance that took the epoch. */
  decidedBy: string;
  /** Its FailoverTriggered, when published: the cause of what follows. */
  triggered: EventRef | null;
}

/** Resolves after `ms`, or at once when `signal` aborts (leaving no listener behind either way). */
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * The adapter around the pure decider for one protected resource:
 *
 *   every probeIntervalMs: probe all members (in parallel, each with its timeout) → fold the
 *   observations → if this instance holds the lease: decide → carry the decision out → fold the
 *   fact that it did.
 *
 * Every instance probes and folds (so a new leader starts from a warm view) and follows the
 * route record in KV (so it knows who is primary and who is fenced); only the lease holder acts.
 * What the leader does is guarded twice: the lease, and the epoch's compare-and-set taken before
 * any promotion (so a leader that lost its lease without knowing cannot promote as well).
 *
 * Decisions and actions run one at a time (`exclusive`): a switchover request waits for a
 * round's action to finish and vice versa.
 */
export class ResourceSupervisor {
  private state: FailoverState;
  private readonly members = new Map<string, PgMember>();
  private readonly lease: LeaderLease;
  private readonly abort = new AbortController();
  private loopDone: Promise<void> | null = null;
  private stopWatch: (() => void) | null = null;
  private lock: Promise<unknown> = Promise.resolve();
  private busy = false;
  private needsReconcile = true;
  /** A route record exists (seen through the watch or written here). */
  private routed = false;
  /** The latest probe that found the member then primary healthy. */
  private lastHealthyPrimary: { member: string; at: number } | null = null;
  /** The primary's consecutive failed probes in the current outage (published with the decision). */
  private failedPrimaryProbes: RecordedObservation[] = [];
  private lastDecision: { type: FailoverDecision['type']; reason: string; at: string } | null = null;
  private readonly completed: CompletedFailover[] = [];
  /** The latest failover's events, so a ResourceDegraded that follows it joins its chain. */
  private lastFailoverEvent: EventRef | null = null;

  constructor(private readonly deps: SupervisorDeps) {
    const { settings, store, instanceId } = deps;
    this.state = initialState(settings.decider);
    for (const endpoint of settings.members) this.members.set(endpoint.name, new PgMember(endpoint, settings.probeTimeoutMs));
    this.lease = new LeaderLease(store.leases, leaseKey(settings.resource), instanceId, {
      ttlMs: store.leaseTtlMs,
      onChange: (leader) => {
        if (leader) this.needsReconcile = true;
        const what = leader ? 'took the lease: this instance now decides' : this.abort.signal.aborted ? 'released the lease (stopping)' : 'lost the lease: another instance decides';
        deps.logger.log(`${settings.resource}: ${what} (instance ${instanceId})`);
      },
      onError: (error) => deps.logger.warn(`${settings.resource}: lease: ${error.message}`),
    });
  }

  get resource() {
    return this.deps.settings.resource;
  }

  /** Reads the route and epoch from KV, follows the route, takes part in the lease, starts probing. */
  async start(): Promise<void> {
    const route = await this.deps.store.readRoute(this.resource);
    const adopt = (record: RouteRecord) => {
      this.routed = true;
      this.fold(routeAdopted(record));
    };
    if (route) adopt(route.record);
    this.stopWatch = await this.deps.store.watchRoute(this.resource, adopt);
    this.lease.start();
    this.loopDone = this.loop();
  }

  /** Stops probing, waits for an action in progress, releases the lease (another instance takes over at once). */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loopDone?.catch(() => undefined);
    await this.lock.catch(() => undefined);
    this.stopWatch?.();
    await this.lease.stop({ release: true });
  }

  isLeader(): boolean {
    return this.lease.isLeader();
  }

  leaseHolder() {
    return this.lease.holder();
  }

  /** This instance's view, for `GET /failover/:resource`. */
  status() {
    const s = this.state;
    return {
      resource: this.resource,
      instance: this.deps.instanceId,
      leader: this.lease.isLeader(),
      mode: this.deps.settings.decider.mode,
      primary: s.primary,
      epoch: s.epoch,
      consecutiveFailures: s.consecutiveFailures,
      firstFailureAt: iso(s.firstFailureAt),
      failoverInProgress: s.failover && { ...s.failover, startedAt: iso(s.failover.startedAt) },
      fenced: Object.values(s.fenced).map((f) => ({ member: f.member, formerEpoch: f.formerEpoch, cause: f.cause, fencedAt: iso(f.fencedAt), present: f.present })),
      members: this.deps.settings.members.map((m) => ({ name: m.name, url: redactConnection(m.connection), observation: s.observations[m.name] ? { ...s.observations[m.name]!, at: iso(s.observations[m.name]!.at) } : null })),
      lastDecision: this.lastDecision,
      completedFailovers: this.completed.slice(-10),
    };
  }

  // ─── the loop ──────────────────────────────────────────────────────────────────────────

  private async loop(): Promise<void> {
    const { probeIntervalMs } = this.deps.settings.decider;
    while (!this.abort.signal.aborted) {
      const started = Date.now();
      try {
        await this.round();
      } catch (error) {
        this.deps.logger.error(`${this.resource}: round failed: ${(error as Error).stack ?? String(error)}`);
      }
      await sleep(Math.max(0, started + probeIntervalMs - Date.now()), this.abort.signal);
    }
  }

  private async round(): Promise<void> {
    const observations = await Promise.all([...this.members.values()].map((m) => m.probe()));
    for (const observation of observations) this.observe(observation);
    if (this.abort.signal.aborted || this.busy || !this.lease.isLeader()) return;
    await this.exclusive(() => this.leaderStep());
  }

  private observe(observation: Observation): void {
    const before = this.state.observations[observation.member];
    this.fold({ type: 'ProbeObserved', observation });
    const after = this.state.observations[observation.member];
    this.failedPrimaryProbes = keepFailedPrimaryProbes(this.failedPrimaryProbes, this.state, after !== before ? (after ?? null) : null);
    if (observation.member === this.state.primary && observation.reachable && observation.inRecovery === false) {
      this.lastHealthyPrimary = { member: observation.member, at: typeof observation.at === 'number' ? observation.at : observation.at.getTime() };
    }
  }

  private fold(event: FailoverEvent): void {
    this.state = evolve(this.state, event);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(async () => {
      this.busy = true;
      try {
        return await fn();
      } finally {
        this.busy = false;
      }
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  private async leaderStep(): Promise<void> {
    if (this.needsReconcile) {
      await this.reconcile();
      this.needsReconcile = false;
    }
    await this.ensureRoute();
    const decision = decide(this.state, { type: 'Evaluate', now: Date.now() }, this.deps.settings.decider);
    this.remember(decision);
    switch (decision.type) {
      case 'none':
      case 'rejected':
        return;
      case 'failover':
        await traced('failover', { 'continuity.resource': this.resource, 'failover.from': decision.from, 'failover.to': decision.to, 'failover.epoch': decision.epoch }, () => this.failover(decision));
        return;
      case 'no-candidate':
        await traced('failover.no_candidate', { 'continuity.resource': this.resource, 'failover.from': decision.from }, () => this.reportNoCandidate(decision));
        return;
      case 'fence':
        await traced('failover.fence', { 'continuity.resource': this.resource, 'failover.member': decision.member }, () => this.fence(decision));
        return;
      case 'switchover':
        return; // only ever the answer to a RequestSwitchover
      default: {
        const unreachable: never = decision;
        throw new Error(`unknown decision ${JSON.stringify(unreachable)}`);
      }
    }
  }

  private remember(decision: FailoverDecision): void {
    const reason = decision.type === 'failover' || decision.type === 'switchover' ? `${decision.from} → ${decision.to}: ${decision.reason}` : decision.reason;
    if (this.lastDecision?.reason === reason && this.lastDecision.type === decision.type) return;
    this.lastDecision = { type: decision.type, reason, at: new Date().toISOString() };
    const level = decision.type === 'none' ? 'debug' : 'log';
    if (decision.type === 'none' && /failed \d+\/\d+ probes|mode is manual/.test(reason)) this.deps.logger.warn(`${this.resource}: ${reason}`);
    else if (level === 'log') this.deps.logger.log(`${this.resource}: decision ${decision.type}: ${reason}`);
    else this.deps.logger.debug?.(`${this.resource}: ${reason}`);
  }

  /** The first route, once the configured primary has answered as a primary. */
  private async ensureRoute(): Promise<void> {
    const { primary, epoch, observations } = this.state;
    if (this.routed || epoch !== 0 || this.state.failover) return;
    const seen = observations[primary];
    if (!seen?.reachable || seen.inRecovery !== false) return;
    const written = await this.deps.store.writeRoute(this.routeRecord(null));
    this.routed = true;
    if (written.written) this.deps.logger.log(`${this.resource}: route created: ${primary} is primary (epoch 0)`);
  }

  /**
   * On taking the lease: an epoch above the route's means a failover taken but not finished (its
   * leader died or gave up mid-way). If its target is out of recovery it was promoted: finish it
   * (confirm writes, route, FailoverCompleted). Otherwise nothing was promoted: keep the epoch
   * (epochs only grow) and decide afresh.
   */
  private async reconcile(): Promise<void> {
    const taken = await this.deps.store.readEpoch(this.resource);
    if (!taken || taken.record.epoch <= this.state.epoch) return;
    const intent = taken.record;
    const target = this.members.get(intent.to);
    const seen = target ? await target.probe() : null;
    if (seen) this.observe(seen);
    this.fold({ type: 'FailoverStarted', epoch: intent.epoch, from: intent.from, to: intent.to, planned: intent.planned, at: Date.parse(intent.takenAt) });
    // FailoverTriggered's event id is the failover id (see publishTriggered).
    const attempt: FailoverAttempt = {
      failoverId: intent.failoverId,
      epoch: intent.epoch,
      from: intent.from,
      to: intent.to,
      planned: intent.planned,
      decidedBy: intent.takenBy,
      triggered: { id: intent.failoverId, correlationId: intent.failoverId },
    };
    if (!target || !seen?.reachable || seen.inRecovery !== false) {
      await this.abandon(attempt, `left unfinished by failover instance ${intent.takenBy}, which took epoch ${intent.epoch}; ${intent.to} was not promoted (found ${describeTarget(seen)}); deciding afresh`);
      return;
    }
    this.deps.logger.warn(`${this.resource}: finishing failover ${intent.failoverId} (epoch ${intent.epoch}, ${intent.from} → ${intent.to}) left unfinished by ${intent.takenBy}: ${intent.to} is already promoted`);
    const takenAt = Date.parse(intent.takenAt);
    await this.completePromotion(attempt, {
      firstFailureAt: null,
      detectedAt: takenAt,
      decidedAt: takenAt,
      promotedAt: Date.now(),
      lagBytes: null,
    });
  }

  // ─── failover ──────────────────────────────────────────────────────────────────────────

  private async failover(decision: StartFailover): Promise<void> {
    const failoverId = uuidv7();
    if (!(await this.takeEpoch(decision, failoverId, false))) return;
    const decidedAt = Date.now();
    this.fold({ type: 'FailoverStarted', epoch: decision.epoch, from: decision.from, to: decision.to, planned: false, at: decidedAt });

    const triggered = await this.publishTriggered({
      failoverId,
      from: decision.from,
      to: decision.to,
      planned: false,
      reason: `${decision.reason}; promoting ${decision.to} (lag ${decision.lagBytes} bytes, limit ${this.deps.settings.decider.maxLagBytes})`,
      firstFailureAt: decision.firstFailureAt,
      detectedAt: decision.detectedAt,
      epoch: decision.epoch,
      candidates: decision.candidates,
      primaryLsn: decision.primaryLsn,
    });
    const attempt: FailoverAttempt = { failoverId, epoch: decision.epoch, from: decision.from, to: decision.to, planned: false, decidedBy: this.deps.instanceId, triggered };

    const target = this.members.get(decision.to)!;
    // Lag at promotion: the primary's last known position minus what the target has received.
    const lagBytes = await target
      .walPositions()
      .then((p) => (p.receiveLsn ? Math.max(0, Number(lsnDiffBytes(decision.primaryLsn, p.receiveLsn))) : decision.lagBytes))
      .catch(() => decision.lagBytes);
    const notPromoted = await this.promote(target);
    if (notPromoted) {
      await this.abandon(attempt, `${notPromoted}; nothing routed, ${decision.from} is still the failed primary (not retried with this standby in this outage)`);
      return;
    }
    await this.completePromotion(attempt, {
      firstFailureAt: decision.firstFailureAt,
      detectedAt: decision.detectedAt,
      decidedAt,
      promotedAt: Date.now(),
      lagBytes,
    });
  }

  /** Compare-and-set of the fencing epoch; null (and a reconcile next round) when another leader moved it. */
  private async takeEpoch(decision: StartFailover | StartSwitchover, failoverId: string, planned: boolean): Promise<EpochRecord | null> {
    const intent: EpochRecord = {
      resource: this.resource,
      epoch: decision.epoch,
      from: decision.from,
      to: decision.to,
      planned,
      failoverId,
      takenAt: new Date().toISOString(),
      takenBy: this.deps.instanceId,
    };
    if (!this.lease.isLeader()) return null;
    const result = await this.deps.store.takeEpoch(decision.epoch - 1, intent);
    if (result.taken) return intent;
    this.needsReconcile = true;
    this.deps.logger.warn(`${this.resource}: epoch ${decision.epoch} not taken: the stored epoch is ${result.current?.epoch ?? 'missing'} (taken by ${result.current?.takenBy ?? '?'}); not promoting`);
    return null;
  }

  /**
   * pg_promote; on failure, checks whether it promoted anyway. Null when `target` is promoted,
   * else why not (the caller abandons the attempt: FailoverAbandoned, folded and published).
   */
  private async promote(target: PgMember): Promise<string | null> {
    if (!this.lease.isLeader()) {
      // Lost the lease since taking the epoch (paused, or cut off from NATS): whoever leads now
      // finds the epoch ahead of the route and decides; promoting as well could make two primaries.
      return `lease lost before promoting ${target.name}: not promoted, the instance that leads now decides`;
    }
    try {
      await target.promote(this.deps.settings.promoteTimeoutMs);
      return null;
    } catch (error) {
      const seen = await target.probe();
      this.observe(seen);
      if (seen.reachable && seen.inRecovery === false) return null;
      return `promotion of ${target.name} failed: ${(error as Error).message}`;
    }
  }

  /**
   * Gives up an attempt whose epoch was taken but whose target will not be routed: folds
   * FailoverAbandoned (a no-op once PromotionSucceeded was folded) and publishes it, caused by the
   * attempt's FailoverTriggered. The epoch stays taken.
   */
  private async abandon(attempt: FailoverAttempt, reason: string): Promise<void> {
    const at = Date.now();
    this.fold({ type: 'FailoverAbandoned', epoch: attempt.epoch, reason, at });
    this.deps.logger.error(`${this.resource}: ${attempt.planned ? 'switchover' : 'failover'} ${attempt.from} → ${attempt.to} (epoch ${attempt.epoch}) abandoned: ${reason}`);
    try {
      await this.deps.publisher.publish('FailoverAbandoned', {
        resource: this.resource,
        data: { failoverId: attempt.failoverId, fromInstance: attempt.from, toInstance: attempt.to, epoch: attempt.epoch, planned: attempt.planned, reason, at: iso(at)! },
        ...(attempt.triggered ? causedBy(attempt.triggered) : {}),
      });
    } catch (error) {
      this.deps.logger.error(`${this.resource}: FailoverAbandoned not published: ${(error as Error).message}`);
    }
  }

  /** After promotion: confirm writes, route, fold, publish FailoverCompleted, re-point the other standbys. */
  private async completePromotion(
    attempt: FailoverAttempt,
    times: { firstFailureAt: number | null; detectedAt: number; decidedAt: number; promotedAt: number; lagBytes: number | null },
  ): Promise<CompletedFailover | null> {
    const p = { ...attempt, ...times };
    const target = this.members.get(p.to)!;
    let lsn: string;
    try {
      // A member once fenced keeps default_transaction_read_only = on unless reset: clients would get read-only sessions.
      if (this.state.observations[p.to]?.readOnly) await target.makeWritable();
      lsn = await target.confirmWritable(Date.now() + this.deps.settings.promoteTimeoutMs);
    } catch (error) {
      await this.abandon(attempt, `${p.to} left recovery but does not accept writes: ${(error as Error).message}; not routed to`);
      return null;
    }
    const writableAt = Date.now();
    trace.getActiveSpan()?.addEvent('writable', { 'failover.lsn': lsn });
    this.fold({ type: 'PromotionSucceeded', epoch: p.epoch, member: p.to, at: p.promotedAt, lsn });
    const written = await this.deps.store.writeRoute(this.routeRecord(p.failoverId));
    if (!written.written) {
      // A higher epoch is routed already: ours must not serve. The route watch adopts theirs.
      this.deps.logger.error(`${this.resource}: route not written: epoch ${written.current?.epoch} (${written.current?.primary}) is already routed; making ${p.to} read-only`);
      const fenced = await target.makeReadOnly().then(
        () => 'made read-only',
        (error: Error) => `could not make it read-only: ${error.message}`,
      );
      await this.abandon(attempt, `${p.to} was promoted but not routed: epoch ${written.current?.epoch ?? '?'} (${written.current?.primary ?? '?'}) is routed already; ${p.to} ${fenced}`);
      return null;
    }
    const routedAt = Date.now();
    trace.getActiveSpan()?.addEvent('routed', { 'failover.epoch': p.epoch });
    const timeline = {
      firstFailureAt: iso(p.firstFailureAt),
      detectedAt: iso(p.detectedAt)!,
      decidedAt: iso(p.decidedAt)!,
      promotedAt: iso(p.promotedAt)!,
      writableAt: iso(writableAt)!,
      routedAt: iso(routedAt)!,
    };
    const completed: CompletedFailover = {
      failoverId: p.failoverId,
      epoch: p.epoch,
      from: p.from,
      to: p.to,
      planned: p.planned,
      rtoMs: rtoMs({ firstFailureAt: p.firstFailureAt, detectedAt: p.detectedAt, routedAt }),
      replicationLagBytes: p.lagBytes,
      timeline,
    };
    this.completed.push(completed);
    if (this.completed.length > 100) this.completed.shift();
    this.deps.onCompleted?.(this.resource, completed);
    this.deps.logger.log(
      `${this.resource}: ${p.planned ? 'switchover' : 'failover'} ${p.from} → ${p.to} done at epoch ${p.epoch}: RTO ${completed.rtoMs} ms ` +
        `(detect ${p.firstFailureAt === null ? 0 : p.detectedAt - p.firstFailureAt} ms, decide ${p.decidedAt - p.detectedAt} ms, promote ${p.promotedAt - p.decidedAt} ms, ` +
        `writable ${writableAt - p.promotedAt} ms, route ${routedAt - writableAt} ms)`,
    );
    try {
      const event = await this.deps.publisher.publish('FailoverCompleted', {
        resource: this.resource,
        data: {
          failoverId: p.failoverId,
          newPrimary: p.to,
          epoch: p.epoch,
          rtoMs: completed.rtoMs,
          replicationLagBytes: p.lagBytes,
          timeline,
          planned: p.planned,
          fromInstance: p.from,
          decidedBy: p.decidedBy,
        },
        ...(p.triggered ? causedBy(p.triggered) : {}),
      });
      this.lastFailoverEvent = event.event;
    } catch (error) {
      this.deps.logger.error(`${this.resource}: FailoverCompleted not published: ${(error as Error).message}`);
    }
    await this.repointStandbys(p.to);
    return completed;
  }

  /** Every other reachable, unfenced standby streams from the new primary from now on (best effort). */
  private async repointStandbys(newPrimary: string): Promise<void> {
    const primary = this.endpoint(newPrimary);
    await Promise.all(
      [...this.members.values()]
        .filter((m) => m.name !== newPrimary && !(m.name in this.state.fenced) && this.state.observations[m.name]?.inRecovery === true)
        .map((m) =>
          m.followPrimary(primaryConninfoFor(primary, m.name)).then(
            () => this.deps.logger.log(`${this.resource}: ${m.name} now streams from ${newPrimary}`),
            (error: Error) => this.deps.logger.warn(`${this.resource}: could not point ${m.name} at ${newPrimary}: ${error.message}`),
          ),
        ),
    );
  }

  private async reportNoCandidate(decision: ReportNoCandidate): Promise<void> {
    const why = decision.candidates.map((c) => `${c.instance}: ${c.reason}`).join('; ');
    const reason = `${decision.reason} (${why}); nothing promoted`;
    const published = await this.publishTriggered({
      failoverId: uuidv7(),
      from: decision.from,
      to: null,
      planned: false,
      reason,
      firstFailureAt: decision.firstFailureAt,
      detectedAt: decision.detectedAt,
      epoch: decision.epoch,
      candidates: decision.candidates,
      primaryLsn: this.state.lastKnownPrimaryLsn,
    });
    if (published) this.fold({ type: 'NoCandidateReported', firstFailureAt: decision.firstFailureAt, at: Date.now() });
    this.deps.logger.error(`${this.resource}: ${reason}`);
  }

  private async fence(decision: FenceMember): Promise<void> {
    const member = this.members.get(decision.member);
    const cause = this.state.fenced[decision.member]?.cause ?? 'failover';
    let madeReadOnly = false;
    let problem = '';
    if (member) {
      try {
        await member.makeReadOnly();
        madeReadOnly = true;
      } catch (error) {
        problem = `; could not make it read-only: ${(error as Error).message}`;
      }
    }
    const reason = `${decision.reason}; not routed to (route epoch ${decision.epoch}, primary ${this.state.primary})${madeReadOnly ? '; made read-only (default_transaction_read_only = on, sessions ended)' : problem}`;
    try {
      await this.deps.publisher.publish('ResourceDegraded', {
        resource: this.resource,
        data: { member: decision.member, reason, formerEpoch: decision.formerEpoch, currentEpoch: decision.epoch, needs: cause === 'switchover' ? 'rewind' : 'rebuild', madeReadOnly },
        ...(this.lastFailoverEvent ? causedBy(this.lastFailoverEvent) : {}),
      });
    } catch (error) {
      this.deps.logger.error(`${this.resource}: ResourceDegraded not published (will retry): ${(error as Error).message}`);
      return;
    }
    this.fold({ type: 'FenceApplied', member: decision.member, reappearance: decision.reappearance, at: Date.now() });
    this.deps.logger.warn(`${this.resource}: fenced ${decision.member}: ${reason}`);
  }

  /**
   * FailoverTriggered (its event id is the failover id): the decision with what it rested on —
   * the observations (the primary's failed probes of this outage, every other member's latest),
   * this instance as the decider, when the primary was last seen healthy, its last known LSN.
   */
  private async publishTriggered(t: {
    failoverId: string;
    from: string;
    to: string | null;
    planned: boolean;
    reason: string;
    firstFailureAt: number | null;
    detectedAt: number;
    epoch: number;
    candidates: StartFailover['candidates'];
    primaryLsn: string | null;
  }): Promise<EventRef | null> {
    const observations: FailoverObservation[] = observationsBehind(
      this.state,
      this.deps.settings.members.map((m) => m.name),
      t.from,
      this.failedPrimaryProbes,
    );
    try {
      const { event } = await this.deps.publisher.publish('FailoverTriggered', {
        resource: this.resource,
        id: t.failoverId,
        data: {
          failoverId: t.failoverId,
          fromInstance: t.from,
          toInstance: t.to,
          planned: t.planned,
          reason: t.reason,
          firstFailureAt: iso(t.firstFailureAt),
          detectedAt: iso(t.detectedAt)!,
          epoch: t.epoch,
          candidates: [...t.candidates],
          observations,
          decidedBy: this.deps.instanceId,
          // Of the primary being replaced, not of one before it (the route may have moved since).
          lastHealthyAt: this.lastHealthyPrimary?.member === t.from ? iso(this.lastHealthyPrimary.at) : null,
          primaryLsn: t.primaryLsn,
        },
      });
      this.lastFailoverEvent = event;
      return event;
    } catch (error) {
      // The failover goes on: restoring service matters more than the record of it (the log says so).
      this.deps.logger.error(`${this.resource}: FailoverTriggered not published: ${(error as Error).message}`);
      return null;
    }
  }

  // ─── switchover ────────────────────────────────────────────────────────────────────────

  /**
   * A planned switchover to `to` with no data loss: take the epoch, make the primary read-only
   * (ending its sessions, so nothing that began read-write can still commit), read its final WAL
   * position, wait until `to` has replayed it, then promote `to` and route to it. If `to` does not
   * catch up in time the primary is made writable again and nothing changes but the epoch.
   */
  async switchover(to: string): Promise<CompletedFailover | RejectRequest> {
    return this.exclusive(() => traced('failover.switchover', { 'continuity.resource': this.resource, 'failover.to': to }, async () => {
      if (!this.lease.isLeader()) throw new NotLeaderError(this.resource, (await this.lease.holder().catch(() => null))?.holder ?? null);
      const requestedAt = Date.now();
      const decision = decide(this.state, { type: 'RequestSwitchover', to, now: requestedAt }, this.deps.settings.decider);
      this.remember(decision);
      if (decision.type === 'rejected') return decision;
      if (decision.type !== 'switchover') throw new Error(`unexpected decision ${decision.type} for a switchover`);
      const failoverId = uuidv7();
      if (!(await this.takeEpoch(decision, failoverId, true))) throw new EpochConflictError(this.resource, decision.epoch - 1, null);
      const decidedAt = Date.now();
      this.fold({ type: 'FailoverStarted', epoch: decision.epoch, from: decision.from, to: decision.to, planned: true, at: decidedAt });
      const triggered = await this.publishTriggered({
        failoverId,
        from: decision.from,
        to: decision.to,
        planned: true,
        reason: `${decision.reason}; ${decision.from} made read-only, ${decision.to} promoted once it has replayed ${decision.from}'s final WAL position (at least ${decision.targetLsn})`,
        firstFailureAt: null,
        detectedAt: requestedAt,
        epoch: decision.epoch,
        candidates: decision.candidates,
        primaryLsn: decision.targetLsn,
      });
      const attempt: FailoverAttempt = { failoverId, epoch: decision.epoch, from: decision.from, to: decision.to, planned: true, decidedBy: this.deps.instanceId, triggered };

      const from = this.members.get(decision.from)!;
      const target = this.members.get(decision.to)!;
      const deadline = Date.now() + this.deps.settings.switchoverTimeoutMs;
      try {
        await from.makeReadOnly();
        const finalLsn = await from.currentLsn(5_000);
        const waitFor = lsnDiffBytes(finalLsn, decision.targetLsn) >= 0n ? finalLsn : decision.targetLsn;
        await target.waitForReplay(waitFor, deadline);
      } catch (error) {
        const reason = (error as Error).message;
        await this.abandon(attempt, `${reason}; ${await this.handBack(from)}`);
        throw new SwitchoverAbandonedError(this.resource, failoverId, reason);
      }
      const notPromoted = await this.promote(target);
      if (notPromoted) {
        await this.abandon(attempt, `${notPromoted}; ${await this.handBack(from)}`);
        throw new SwitchoverAbandonedError(this.resource, failoverId, notPromoted);
      }
      const completed = await this.completePromotion(attempt, {
        firstFailureAt: null,
        detectedAt: requestedAt,
        decidedAt,
        promotedAt: Date.now(),
        lagBytes: 0,
      });
      if (!completed) throw new SwitchoverAbandonedError(this.resource, failoverId, `${decision.to} was promoted but could not be routed (see the service log)`);
      return completed;
    }));
  }

  /**
   * An operator rebuilt a fenced member as a standby of the current primary: after checking that
   * it answers in recovery, it leaves the fenced list (in the route record, so every instance
   * follows) and may be promoted again.
   */
  async memberRebuilt(member: string): Promise<RouteRecord> {
    return this.exclusive(async () => {
      if (!this.lease.isLeader()) throw new NotLeaderError(this.resource, (await this.lease.holder().catch(() => null))?.holder ?? null);
      const pg = this.members.get(member);
      if (!pg) throw new UnknownMemberError(this.resource, member);
      const seen = await pg.probe();
      this.observe(seen);
      if (!seen.reachable || seen.inRecovery !== true) {
        throw new MemberNotStandbyError(this.resource, member, seen.reachable ? 'it is not in recovery (pg_is_in_recovery = false)' : `it is unreachable: ${seen.error}`);
      }
      // It may have been fenced (made read-only) while it was being rebuilt: a standby that may be promoted must not be.
      if (seen.readOnly) await pg.makeWritable();
      this.fold({ type: 'MemberRebuilt', member, at: Date.now() });
      const latest = await this.deps.store.readRoute(this.resource);
      const record = this.routeRecord(latest?.record.failoverId ?? null);
      const written = await this.deps.store.writeRoute(record);
      if (!written.written) throw new EpochConflictError(this.resource, this.state.epoch, written.current?.epoch ?? null);
      this.deps.logger.log(`${this.resource}: ${member} rebuilt: no longer fenced, eligible for promotion`);
      return record;
    });
  }

  /** A switchover given up: the old primary takes writes again. Says how that went. */
  private async handBack(from: PgMember): Promise<string> {
    try {
      await from.makeWritable();
      return `${from.name} is writable again and stays primary`;
    } catch (error) {
      this.deps.logger.error(`${this.resource}: could not make ${from.name} writable again: ${(error as Error).message}`);
      return `${from.name} stays primary but could not be made writable again: ${(error as Error).message}`;
    }
  }

  // ─── helpers ───────────────────────────────────────────────────────────────────────────

  private endpoint(name: string): MemberEndpoint {
    const endpoint = this.deps.settings.members.find((m) => m.name === name);
    if (!endpoint) throw new UnknownMemberError(this.resource, name);
    return endpoint;
  }

  private routeRecord(failoverId: string | null): RouteRecord {
    const primary = this.endpoint(this.state.primary);
    const url = new URL(primary.connection);
    return {
      resource: this.resource,
      primary: primary.name,
      url: redactConnection(primary.connection),
      host: url.hostname,
      port: Number(url.port || 5432),
      epoch: this.state.epoch,
      failoverId,
      updatedAt: new Date().toISOString(),
      updatedBy: this.deps.instanceId,
      fenced: Object.values(this.state.fenced).map((f) => ({ member: f.member, formerEpoch: f.formerEpoch, cause: f.cause, fencedAt: iso(f.fencedAt)! })),
    };
  }
}

const describeTarget = (seen: Observation | null): string =>
  !seen ? 'it is not a configured member' : !seen.reachable ? `it unreachable: ${seen.error ?? 'no answer'}` : seen.inRecovery ? 'it still in recovery' : 'it out of recovery';

const routeAdopted = (record: RouteRecord): FailoverEvent => ({
  type: 'RouteAdopted',
  epoch: record.epoch,
  primary: record.primary,
  fenced: record.fenced,
  at: Date.parse(record.updatedAt),
});
