import { v7 as uuidv7 } from 'uuid';
import { lsnDiffBytes } from '../probing/lsn.js';
import type { Observation } from '../probing/observation.js';
import type { ReportNoCandidate, StartFailover } from './failover.decider.js';
import type { FailoverAttempt } from './failover-attempt.js';
import { describeFenceOutcome, OldPrimaryFence } from './old-primary-fence.js';
import type { Promotion } from './promotion.js';
import type { ResourceContext } from './resource-context.js';

const describeTarget = (seen: Observation | null): string =>
  !seen ? 'it is not a configured member' : !seen.reachable ? `it unreachable: ${seen.error ?? 'no answer'}` : seen.inRecovery ? 'it still in recovery' : 'it out of recovery';

/**
 * What the leader does when the decider judges the primary failed: promote the chosen standby,
 * or publish that none qualifies; and, on taking the lease, finish or abandon a failover that the
 * previous leader left unfinished.
 */
export class AutomaticFailover {
  private readonly fence: OldPrimaryFence;

  constructor(
    private readonly ctx: ResourceContext,
    private readonly promotion: Promotion,
  ) {
    this.fence = new OldPrimaryFence(ctx);
  }

  async run(decision: StartFailover): Promise<void> {
    const { ctx, promotion } = this;
    const begun = await promotion.begin(decision, false, {
      reason: `${decision.reason}; promoting ${decision.to} (lag ${decision.lagBytes} bytes, limit ${ctx.deps.settings.decider.maxLagBytes})`,
      firstFailureAt: decision.firstFailureAt,
      detectedAt: decision.detectedAt,
      primaryLsn: decision.primaryLsn,
    }, this.fence.beforePromotion);
    if (!begun) return;
    const { attempt, decidedAt } = begun;

    const target = ctx.members.get(decision.to)!;
    // Lag at promotion: the primary's last known position minus what the target has received.
    const lagBytes = await target
      .walPositions()
      .then((p) => (p.receiveLsn ? Math.max(0, Number(lsnDiffBytes(decision.primaryLsn, p.receiveLsn))) : decision.lagBytes))
      .catch(() => decision.lagBytes);
    const notPromoted = await promotion.promote(target);
    if (notPromoted) {
      await promotion.abandon(attempt, `${notPromoted}; nothing routed, ${decision.from} is still the failed primary (not retried with this standby in this outage)`);
      return;
    }
    await promotion.complete(attempt, {
      firstFailureAt: decision.firstFailureAt,
      detectedAt: decision.detectedAt,
      decidedAt,
      promotedAt: Date.now(),
      lagBytes,
    });
  }

  /** The primary failed and no standby qualifies: FailoverTriggered with no target, once per outage. */
  async reportNoCandidate(decision: ReportNoCandidate): Promise<void> {
    const { ctx } = this;
    const why = decision.candidates.map((c) => `${c.instance}: ${c.reason}`).join('; ');
    const reason = `${decision.reason} (${why}); nothing promoted`;
    const published = await ctx.announcer.triggered(ctx.state(), {
      failoverId: uuidv7(),
      from: decision.from,
      to: null,
      planned: false,
      reason,
      firstFailureAt: decision.firstFailureAt,
      detectedAt: decision.detectedAt,
      epoch: decision.epoch,
      candidates: decision.candidates,
      primaryLsn: ctx.state().lastKnownPrimaryLsn,
      fence: null,
    });
    if (published) ctx.fold({ type: 'NoCandidateReported', firstFailureAt: decision.firstFailureAt, at: Date.now() });
    ctx.deps.logger.error(`${ctx.resource}: ${reason}`);
  }

  /**
   * On taking the lease: an epoch above the route's means a failover taken but not finished (its
   * leader died or gave up mid-way). If its target is out of recovery it was promoted: finish it
   * (confirm writes, route, FailoverCompleted). Otherwise nothing was promoted: keep the epoch
   * (epochs only grow) and decide afresh.
   */
  async reconcile(): Promise<void> {
    const { ctx, promotion } = this;
    const taken = await ctx.deps.store.readEpoch(ctx.resource);
    if (!taken || taken.record.epoch <= ctx.state().epoch) return;
    const intent = taken.record;
    const target = ctx.members.get(intent.to);
    const seen = target ? await target.probe() : null;
    if (seen) ctx.observe(seen);
    ctx.fold({ type: 'FailoverStarted', epoch: intent.epoch, from: intent.from, to: intent.to, planned: intent.planned, at: Date.parse(intent.takenAt) });
    // FailoverTriggered's event id is the failover id (see FailoverAnnouncer.triggered).
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
      const fenced = !intent.fence
        ? ''
        : intent.fence.outcome
          ? `; ${intent.from}'s fence command ${describeFenceOutcome(intent.fence.outcome)}`
          : `; ${intent.from}'s fence command was started at ${intent.fence.startedAt} and its outcome is unknown`;
      await promotion.abandon(attempt, `left unfinished by failover instance ${intent.takenBy}, which took epoch ${intent.epoch}; ${intent.to} was not promoted (found ${describeTarget(seen)})${fenced}; deciding afresh`);
      return;
    }
    ctx.deps.logger.warn(`${ctx.resource}: finishing failover ${intent.failoverId} (epoch ${intent.epoch}, ${intent.from} → ${intent.to}) left unfinished by ${intent.takenBy}: ${intent.to} is already promoted`);
    const takenAt = Date.parse(intent.takenAt);
    await promotion.complete(attempt, {
      firstFailureAt: null,
      detectedAt: takenAt,
      decidedAt: takenAt,
      promotedAt: Date.now(),
      lagBytes: null,
    });
  }
}
