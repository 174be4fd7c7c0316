import { v7 as uuidv7 } from 'uuid';
import { trace } from '@opentelemetry/api';
import type { FenceCommandOutcome } from '@continuity/contracts';
import type { EpochRecord } from '../coordination/failover-store.js';
import { type PgMember, primaryConninfoFor } from '../probing/pg-member.js';
import type { StartFailover, StartSwitchover } from './failover.decider.js';
import type { Trigger } from './failover-announcer.js';
import type { CompletedFailover, FailoverAttempt } from './failover-attempt.js';
import { iso } from './observations.js';
import { memberEndpoint, type ResourceContext, routeRecord } from './resource-context.js';
import { rtoMs } from './rto.js';

/** An epoch this leader has just taken: its record, that record's revision, and the record it replaced. */
export interface TakenEpoch {
  record: EpochRecord;
  revision: number;
  previous: EpochRecord | null;
}

/**
 * What must happen between taking the epoch and announcing the attempt (the failed primary's
 * fence command): its outcome for FailoverTriggered, a clause for its reason, and why the attempt
 * must be abandoned instead of promoting (null to go on).
 */
export type BeforeAnnounce = (taken: TakenEpoch) => Promise<{ fence: FenceCommandOutcome | null; note: string; abandon: string | null }>;

/**
 * The steps every change of primary takes, automatic or planned: take the fencing epoch
 * (compare-and-set), promote, confirm writes, route, announce; or abandon, keeping the epoch.
 */
export class Promotion {
  constructor(private readonly ctx: ResourceContext) {}

  /**
   * Takes the epoch, folds FailoverStarted, runs `beforeAnnounce` and announces FailoverTriggered:
   * the attempt under way and when it was decided; null when another leader moved the epoch, or
   * when `beforeAnnounce` said to abandon (FailoverAbandoned published after FailoverTriggered).
   */
  async begin(
    decision: StartFailover | StartSwitchover,
    planned: boolean,
    trigger: Pick<Trigger, 'reason' | 'firstFailureAt' | 'detectedAt' | 'primaryLsn'>,
    beforeAnnounce?: BeforeAnnounce,
  ): Promise<{ attempt: FailoverAttempt; decidedAt: number } | null> {
    const { ctx } = this;
    const failoverId = uuidv7();
    const taken = await this.takeEpoch(decision, failoverId, planned);
    if (!taken) return null;
    const decidedAt = Date.now();
    ctx.fold({ type: 'FailoverStarted', epoch: decision.epoch, from: decision.from, to: decision.to, planned, at: decidedAt });
    const before = beforeAnnounce ? await beforeAnnounce(taken) : { fence: null, note: '', abandon: null };
    const triggered = await ctx.announcer.triggered(ctx.state(), {
      failoverId,
      from: decision.from,
      to: decision.to,
      planned,
      epoch: decision.epoch,
      candidates: decision.candidates,
      ...trigger,
      reason: trigger.reason + before.note,
      fence: before.fence,
    });
    const attempt: FailoverAttempt = { failoverId, epoch: decision.epoch, from: decision.from, to: decision.to, planned, decidedBy: ctx.deps.instanceId, triggered };
    if (before.abandon) {
      await this.abandon(attempt, before.abandon);
      return null;
    }
    return { attempt, decidedAt };
  }

  /** Compare-and-set of the fencing epoch; null (and a reconcile next round) when another leader moved it. */
  private async takeEpoch(decision: StartFailover | StartSwitchover, failoverId: string, planned: boolean): Promise<TakenEpoch | null> {
    const intent: EpochRecord = {
      resource: this.ctx.resource,
      epoch: decision.epoch,
      from: decision.from,
      to: decision.to,
      planned,
      failoverId,
      takenAt: new Date().toISOString(),
      takenBy: this.ctx.deps.instanceId,
    };
    if (!this.ctx.lease.isLeader()) return null;
    const result = await this.ctx.deps.store.takeEpoch(decision.epoch - 1, intent);
    if (result.taken) return { record: intent, revision: result.revision, previous: result.previous };
    this.ctx.reconcileNext();
    this.ctx.deps.logger.warn(`${this.ctx.resource}: epoch ${decision.epoch} not taken: the stored epoch is ${result.current?.epoch ?? 'missing'} (taken by ${result.current?.takenBy ?? '?'}); not promoting`);
    return null;
  }

  /**
   * pg_promote; on failure, checks whether it promoted anyway. Null when `target` is promoted,
   * else why not (the caller abandons the attempt: FailoverAbandoned, folded and published).
   */
  async promote(target: PgMember): Promise<string | null> {
    if (!this.ctx.lease.isLeader()) {
      // Lost the lease since taking the epoch (paused, or cut off from NATS): whoever leads now
      // finds the epoch ahead of the route and decides; promoting as well could make two primaries.
      return `lease lost before promoting ${target.name}: not promoted, the instance that leads now decides`;
    }
    try {
      await target.promote(this.ctx.deps.settings.promoteTimeoutMs);
      return null;
    } catch (error) {
      const seen = await target.probe();
      this.ctx.observe(seen);
      if (seen.reachable && seen.inRecovery === false) return null;
      return `promotion of ${target.name} failed: ${(error as Error).message}`;
    }
  }

  /**
   * Gives up an attempt whose epoch was taken but whose target will not be routed: folds
   * FailoverAbandoned (a no-op once PromotionSucceeded was folded) and publishes it, caused by the
   * attempt's FailoverTriggered. The epoch stays taken.
   */
  async abandon(attempt: FailoverAttempt, reason: string): Promise<void> {
    const at = Date.now();
    this.ctx.fold({ type: 'FailoverAbandoned', epoch: attempt.epoch, reason, at });
    this.ctx.deps.logger.error(`${this.ctx.resource}: ${attempt.planned ? 'switchover' : 'failover'} ${attempt.from} → ${attempt.to} (epoch ${attempt.epoch}) abandoned: ${reason}`);
    await this.ctx.announcer.abandoned(attempt, reason, at);
  }

  /** After promotion: confirm writes, route, fold, publish FailoverCompleted, re-point the other standbys. */
  async complete(
    attempt: FailoverAttempt,
    times: { firstFailureAt: number | null; detectedAt: number; decidedAt: number; promotedAt: number; lagBytes: number | null },
  ): Promise<CompletedFailover | null> {
    const p = { ...attempt, ...times };
    const target = this.ctx.members.get(p.to)!;
    let lsn: string;
    try {
      // A member once fenced keeps default_transaction_read_only = on unless reset: clients would get read-only sessions.
      if (this.ctx.state().observations[p.to]?.readOnly) await target.makeWritable();
      // A standby copied from a synchronous primary carries its synchronous_standby_names (ALTER SYSTEM
      // is in the copied postgresql.auto.conf): promoted, its commits would wait for a standby that
      // does not stream from it. Start relaxed; the leader names a standby once one streams from it.
      if (this.ctx.deps.settings.decider.synchronous) await target.setSynchronousStandbyNames('');
      lsn = await target.confirmWritable(Date.now() + this.ctx.deps.settings.promoteTimeoutMs);
    } catch (error) {
      await this.abandon(attempt, `${p.to} left recovery but does not accept writes: ${(error as Error).message}; not routed to`);
      return null;
    }
    const writableAt = Date.now();
    trace.getActiveSpan()?.addEvent('writable', { 'failover.lsn': lsn });
    this.ctx.fold({ type: 'PromotionSucceeded', epoch: p.epoch, member: p.to, at: p.promotedAt, lsn });
    const written = await this.ctx.deps.store.writeRoute(routeRecord(this.ctx, p.failoverId));
    if (!written.written) {
      // A higher epoch is routed already: ours must not serve. The route watch adopts theirs.
      this.ctx.deps.logger.error(`${this.ctx.resource}: route not written: epoch ${written.current?.epoch} (${written.current?.primary}) is already routed; making ${p.to} read-only`);
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
    this.ctx.completed(completed);
    this.ctx.deps.logger.log(
      `${this.ctx.resource}: ${p.planned ? 'switchover' : 'failover'} ${p.from} → ${p.to} done at epoch ${p.epoch}: RTO ${completed.rtoMs} ms ` +
        `(detect ${p.firstFailureAt === null ? 0 : p.detectedAt - p.firstFailureAt} ms, decide ${p.decidedAt - p.detectedAt} ms, promote ${p.promotedAt - p.decidedAt} ms, ` +
        `writable ${writableAt - p.promotedAt} ms, route ${routedAt - writableAt} ms)`,
    );
    await this.ctx.announcer.completed(attempt, completed);
    await this.repointStandbys(p.to);
    return completed;
  }

  /** Every other reachable, unfenced standby streams from the new primary from now on (best effort). */
  private async repointStandbys(newPrimary: string): Promise<void> {
    const primary = memberEndpoint(this.ctx, newPrimary);
    await Promise.all(
      [...this.ctx.members.values()]
        .filter((m) => m.name !== newPrimary && !(m.name in this.ctx.state().fenced) && this.ctx.state().observations[m.name]?.inRecovery === true)
        .map((m) =>
          m.followPrimary(primaryConninfoFor(primary, m.name)).then(
            () => this.ctx.deps.logger.log(`${this.ctx.resource}: ${m.name} now streams from ${newPrimary}`),
            (error: Error) => this.ctx.deps.logger.warn(`${this.ctx.resource}: could not point ${m.name} at ${newPrimary}: ${error.message}`),
          ),
        ),
    );
  }
}
