import { lsnDiffBytes } from '../probing/lsn.js';
import type { PgMember } from '../probing/pg-member.js';
import type { StartSwitchover } from './failover.decider.js';
import { EpochConflictError, SwitchoverAbandonedError } from './failover.errors.js';
import type { CompletedFailover } from './failover-attempt.js';
import type { Promotion } from './promotion.js';
import type { ResourceContext } from './resource-context.js';

/**
 * A planned switchover to `to` with no data loss: take the epoch, make the primary read-only
 * (ending its sessions, so nothing that began read-write can still commit), read its final WAL
 * position, wait until `to` has replayed it, then promote `to` and route to it. If `to` does not
 * catch up in time the primary is made writable again and nothing changes but the epoch.
 */
export class Switchover {
  constructor(
    private readonly ctx: ResourceContext,
    private readonly promotion: Promotion,
  ) {}

  /** Carries out a switchover the decider accepted, requested at `requestedAt`. */
  async run(decision: StartSwitchover, requestedAt: number): Promise<CompletedFailover> {
    const { ctx, promotion } = this;
    const begun = await promotion.begin(decision, true, {
      reason: `${decision.reason}; ${decision.from} made read-only, ${decision.to} promoted once it has replayed ${decision.from}'s final WAL position (at least ${decision.targetLsn})`,
      firstFailureAt: null,
      detectedAt: requestedAt,
      primaryLsn: decision.targetLsn,
    });
    if (!begun) throw new EpochConflictError(ctx.resource, decision.epoch - 1, null);
    const { attempt, decidedAt } = begun;
    const { failoverId } = attempt;

    const from = ctx.members.get(decision.from)!;
    const target = ctx.members.get(decision.to)!;
    const deadline = Date.now() + ctx.deps.settings.switchoverTimeoutMs;
    try {
      await from.makeReadOnly();
      const finalLsn = await from.currentLsn(5_000);
      const waitFor = lsnDiffBytes(finalLsn, decision.targetLsn) >= 0n ? finalLsn : decision.targetLsn;
      await target.waitForReplay(waitFor, deadline);
    } catch (error) {
      const reason = (error as Error).message;
      await promotion.abandon(attempt, `${reason}; ${await this.handBack(from)}`);
      throw new SwitchoverAbandonedError(ctx.resource, failoverId, reason);
    }
    const notPromoted = await promotion.promote(target);
    if (notPromoted) {
      await promotion.abandon(attempt, `${notPromoted}; ${await this.handBack(from)}`);
      throw new SwitchoverAbandonedError(ctx.resource, failoverId, notPromoted);
    }
    const completed = await promotion.complete(attempt, {
      firstFailureAt: null,
      detectedAt: requestedAt,
      decidedAt,
      promotedAt: Date.now(),
      lagBytes: 0,
    });
    if (!completed) throw new SwitchoverAbandonedError(ctx.resource, failoverId, `${decision.to} was promoted but could not be routed (see the service log)`);
    return completed;
  }

  /** A switchover given up: the old primary takes writes again. Says how that went. */
  private async handBack(from: PgMember): Promise<string> {
    try {
      await from.makeWritable();
      return `${from.name} is writable again and stays primary`;
    } catch (error) {
      this.ctx.deps.logger.error(`${this.ctx.resource}: could not make ${from.name} writable again: ${(error as Error).message}`);
      return `${from.name} stays primary but could not be made writable again: ${(error as Error).message}`;
    }
  }
}
