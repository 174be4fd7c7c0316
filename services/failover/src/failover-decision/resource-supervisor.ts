import type { Attributes, Span } from '@opentelemetry/api';
import { inSpan } from '@continuity/telemetry';
import { leaseKey, type RouteRecord } from '@continuity/contracts';
import { redactConnection } from '../config/failover-config.loader.js';
import { LeaderLease } from '../coordination/leader-lease.js';
import type { Observation } from '../probing/observation.js';
import { PgMember } from '../probing/pg-member.js';
import { AutomaticFailover } from './automatic-failover.js';
import { FailoverAnnouncer } from './failover-announcer.js';
import type { CompletedFailover, SupervisorDeps } from './failover-attempt.js';
import { decide, type FailoverDecision, type RejectRequest } from './failover.decider.js';
import { evolve, type FailoverEvent, type FailoverState, initialState } from './failover.state.js';
import { Fencing } from './fencing.js';
import { iso } from './observations.js';
import { Promotion } from './promotion.js';
import { requireLease, type ResourceContext, routeAdopted, routeRecord } from './resource-context.js';
import { Switchover } from './switchover.js';
import { SynchronousReplication } from './synchronous-replication.js';
import { decideSynchronousStandby } from './synchronous-standby.decider.js';

/** One span per failover step taken; events published inside it are its children. */
const traced = <T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>) => inSpan('@continuity/failover', name, attributes, fn);

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
 * round's action to finish and vice versa. The actions are their own classes (AutomaticFailover,
 * Switchover, Fencing, sharing Promotion's steps); FailoverAnnouncer builds and publishes the events.
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
  private lastDecision: { type: FailoverDecision['type']; reason: string; at: string } | null = null;
  private readonly completed: CompletedFailover[] = [];
  private readonly announcer: FailoverAnnouncer;
  /** What the actions below share of this supervisor. */
  private readonly ctx: ResourceContext;
  private readonly automatic: AutomaticFailover;
  private readonly switching: Switchover;
  private readonly fencing: Fencing;
  private readonly synchronous: SynchronousReplication;

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
    this.announcer = new FailoverAnnouncer(deps);
    this.ctx = {
      resource: settings.resource,
      deps,
      members: this.members,
      lease: this.lease,
      announcer: this.announcer,
      state: () => this.state,
      fold: (event) => this.fold(event),
      observe: (observation) => this.observe(observation),
      reconcileNext: () => {
        this.needsReconcile = true;
      },
      completed: (completed) => {
        this.completed.push(completed);
        if (this.completed.length > 100) this.completed.shift();
        deps.onCompleted?.(settings.resource, completed);
      },
    };
    const promotion = new Promotion(this.ctx);
    this.automatic = new AutomaticFailover(this.ctx, promotion);
    this.switching = new Switchover(this.ctx, promotion);
    this.fencing = new Fencing(this.ctx);
    this.synchronous = new SynchronousReplication(this.ctx);
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

  /** The configured members, this instance's latest probe of each, and the probe interval: for load-balancer checks. */
  memberView() {
    return {
      members: this.deps.settings.members.map((m) => m.name),
      observations: { ...this.state.observations },
      probeIntervalMs: this.deps.settings.decider.probeIntervalMs,
    };
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
      synchronous: this.deps.settings.decider.synchronous
        ? { named: s.synchronous.named, confirmed: s.synchronous.confirmed, relaxedSince: iso(s.synchronous.relaxedSince), blockedSince: iso(s.synchronous.blockedSince) }
        : null,
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
    this.announcer.observed(this.state, after !== before ? (after ?? null) : null, observation);
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
      await this.automatic.reconcile();
      this.needsReconcile = false;
    }
    await this.ensureRoute();
    const decision = decide(this.state, { type: 'Evaluate', now: Date.now() }, this.deps.settings.decider);
    this.remember(decision);
    switch (decision.type) {
      case 'none':
        return this.keepSynchronousStandby();
      case 'rejected':
        return;
      case 'failover':
        await traced('failover', { 'continuity.resource': this.resource, 'failover.from': decision.from, 'failover.to': decision.to, 'failover.epoch': decision.epoch }, () => this.automatic.run(decision));
        return;
      case 'no-candidate':
        await traced('failover.no_candidate', { 'continuity.resource': this.resource, 'failover.from': decision.from }, () => this.automatic.reportNoCandidate(decision));
        return;
      case 'fence':
        await traced('failover.fence', { 'continuity.resource': this.resource, 'failover.member': decision.member }, () => this.fencing.fence(decision));
        return;
      case 'switchover':
        return; // only ever the answer to a RequestSwitchover
      default: {
        const unreachable: never = decision;
        throw new Error(`unknown decision ${JSON.stringify(unreachable)}`);
      }
    }
  }

  /** Synchronous mode: with nothing else to do, keep the primary's synchronous standby as the rules want it. */
  private async keepSynchronousStandby(): Promise<void> {
    const decision = decideSynchronousStandby(this.state, this.deps.settings.decider, Date.now());
    if (decision.type === 'none') return;
    await traced('failover.synchronous_standby', { 'continuity.resource': this.resource, 'failover.synchronous_standby': decision.standby ?? '' }, () => this.synchronous.apply(decision));
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
    const written = await this.deps.store.writeRoute(routeRecord(this.ctx, null));
    this.routed = true;
    if (written.written) this.deps.logger.log(`${this.resource}: route created: ${primary} is primary (epoch 0)`);
  }

  /** A planned switchover to `to` (see Switchover): the decider's refusal is returned, not thrown. */
  async switchover(to: string): Promise<CompletedFailover | RejectRequest> {
    return this.exclusive(() => traced('failover.switchover', { 'continuity.resource': this.resource, 'failover.to': to }, async () => {
      await requireLease(this.ctx);
      const requestedAt = Date.now();
      const decision = decide(this.state, { type: 'RequestSwitchover', to, now: requestedAt }, this.deps.settings.decider);
      this.remember(decision);
      if (decision.type === 'rejected') return decision;
      if (decision.type !== 'switchover') throw new Error(`unexpected decision ${decision.type} for a switchover`);
      return this.switching.run(decision, requestedAt);
    }));
  }

  /** An operator rebuilt a fenced member as a standby (see Fencing.rebuilt). */
  async memberRebuilt(member: string): Promise<RouteRecord> {
    return this.exclusive(() => this.fencing.rebuilt(member));
  }
}
