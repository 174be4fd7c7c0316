import type { RouteRecord } from '@continuity/contracts';
import type { FenceMember } from './failover.decider.js';
import { EpochConflictError, MemberNotStandbyError, UnknownMemberError } from './failover.errors.js';
import { requireLease, type ResourceContext, routeRecord } from './resource-context.js';

/**
 * Former primaries: fenced (application connections refused, read-only, sessions ended; and
 * announced degraded) each time one reappears, and let back in once an operator has rebuilt one
 * as a standby.
 */
export class Fencing {
  constructor(private readonly ctx: ResourceContext) {}

  /** Fences a reappeared former primary (PgMember.fence) and publishes ResourceDegraded; folds FenceApplied once published. */
  async fence(decision: FenceMember): Promise<void> {
    const { ctx } = this;
    const member = ctx.members.get(decision.member);
    const cause = ctx.state().fenced[decision.member]?.cause ?? 'failover';
    let madeReadOnly = false;
    let what = '';
    if (member) {
      try {
        const { refused, notRefused } = await member.fence(`former primary of epoch ${decision.formerEpoch}, fenced at epoch ${decision.epoch}`);
        madeReadOnly = true;
        what =
          `; application connections refused (pg_hba.conf reject rules for ${refused.length ? refused.join(', ') : 'no login role other than superusers'})` +
          `${notRefused.length ? `, except ${notRefused.map((r) => `${r.role} (${r.reason})`).join(', ')}` : ''}, read-only, sessions ended`;
      } catch (error) {
        // The read-only default may have been applied even though refusing connections failed.
        madeReadOnly = (await member.probe()).readOnly === true;
        what = `; not fenced as it should be: ${(error as Error).message}${madeReadOnly ? ' (it is read-only by default, which a client can switch off for its session)' : ''}`;
      }
    }
    const reason = `${decision.reason}; not routed to (route epoch ${decision.epoch}, primary ${ctx.state().primary})${what}`;
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
    // It may have been fenced while it was being rebuilt, or kept the fence through the rebuild
    // (a pg_hba.conf outside the data directory): a standby that may be promoted must not be.
    await pg.unfence();
    ctx.fold({ type: 'MemberRebuilt', member, at: Date.now() });
    const latest = await ctx.deps.store.readRoute(ctx.resource);
    const record = routeRecord(ctx, latest?.record.failoverId ?? null);
    const written = await ctx.deps.store.writeRoute(record);
    if (!written.written) throw new EpochConflictError(ctx.resource, ctx.state().epoch, written.current?.epoch ?? null);
    ctx.deps.logger.log(`${ctx.resource}: ${member} rebuilt: no longer fenced, eligible for promotion`);
    return record;
  }
}
