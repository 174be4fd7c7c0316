import type { RouteRecord } from '@continuity/contracts';
import type { FenceMember } from './failover.decider.js';
import { EpochConflictError, MemberNotStandbyError, UnknownMemberError } from './failover.errors.js';
import { requireLease, type ResourceContext, routeRecord } from './resource-context.js';

/**
 * Former primaries: made read-only (and announced degraded) each time one reappears, and let
 * back in once an operator has rebuilt one as a standby.
 */
export class Fencing {
  constructor(private readonly ctx: ResourceContext) {}

  /** Makes a reappeared former primary read-only and publishes ResourceDegraded; folds FenceApplied once published. */
  async fence(decision: FenceMember): Promise<void> {
    const { ctx } = this;
    const member = ctx.members.get(decision.member);
    const cause = ctx.state().fenced[decision.member]?.cause ?? 'failover';
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
    const reason = `${decision.reason}; not routed to (route epoch ${decision.epoch}, primary ${ctx.state().primary})${madeReadOnly ? '; made read-only (default_transaction_read_only = on, sessions ended)' : problem}`;
    const published = await ctx.announcer.degraded({
      member: decision.member,
      reason,
      formerEpoch: decision.formerEpoch,
      currentEpoch: decision.epoch,
      needs: cause === 'switchover' ? 'rewind' : 'rebuild',
      madeReadOnly,
    });
    if (!published) return;
    ctx.fold({ type: 'FenceApplied', member: decision.member, reappearance: decision.reappearance, at: Date.now() });
    ctx.deps.logger.warn(`${ctx.resource}: fenced ${decision.member}: ${reason}`);
  }

  /**
   * An operator rebuilt a fenced member as a standby of the current primary: after checking that
   * it answers in recovery, it leaves the fenced list (in the route record, so every instance
   * follows) and may be promoted again.
   */
  async rebuilt(member: string): Promise<RouteRecord> {
    const { ctx } = this;
    await requireLease(ctx);
    const pg = ctx.members.get(member);
    if (!pg) throw new UnknownMemberError(ctx.resource, member);
    const seen = await pg.probe();
    ctx.observe(seen);
    if (!seen.reachable || seen.inRecovery !== true) {
      throw new MemberNotStandbyError(ctx.resource, member, seen.reachable ? 'it is not in recovery (pg_is_in_recovery = false)' : `it is unreachable: ${seen.error}`);
    }
    // It may have been fenced (made read-only) while it was being rebuilt: a standby that may be promoted must not be.
    if (seen.readOnly) await pg.makeWritable();
    ctx.fold({ type: 'MemberRebuilt', member, at: Date.now() });
    const latest = await ctx.deps.store.readRoute(ctx.resource);
    const record = routeRecord(ctx, latest?.record.failoverId ?? null);
    const written = await ctx.deps.store.writeRoute(record);
    if (!written.written) throw new EpochConflictError(ctx.resource, ctx.state().epoch, written.current?.epoch ?? null);
    ctx.deps.logger.log(`${ctx.resource}: ${member} rebuilt: no longer fenced, eligible for promotion`);
    return record;
  }
}
