import type { SetSynchronousStandby } from './synchronous-standby.decider.js';
import type { ResourceContext } from './resource-context.js';

/**
 * Carries out the synchronous standby decider's decision on the primary: puts the setting in force
 * (ALTER SYSTEM, reload, waits until new sessions see it), publishes SynchronousReplicationChanged,
 * then folds SynchronousStandbyChanged.
 *
 * The setting goes first: relaxing releases commits that are waiting, and naming a standby is what
 * the event then states as fact. A setting that could not be applied is logged and decided again
 * next round; an event that could not be published is logged (the change stands, as for failover
 * events: the service's job matters more than the record of it).
 */
export class SynchronousReplication {
  constructor(private readonly ctx: ResourceContext) {}

  async apply(decision: SetSynchronousStandby): Promise<void> {
    const { ctx } = this;
    const primary = ctx.members.get(decision.primary);
    if (!primary) return;
    if (decision.alter) {
      if (!ctx.lease.isLeader()) return;
      try {
        await primary.setSynchronousStandbyNames(decision.setting);
      } catch (error) {
        ctx.deps.logger.warn(`${ctx.resource}: could not set synchronous_standby_names on ${decision.primary}: ${(error as Error).message}`);
        return;
      }
    }
    if (decision.standby === null) ctx.deps.logger.warn(`${ctx.resource}: synchronous replication relaxed: commits wait for no standby (${decision.reason})`);
    else ctx.deps.logger.log(`${ctx.resource}: synchronous replication: commits wait for ${decision.standby} (${decision.reason})`);
    await ctx.announcer.synchronousChanged(decision);
    ctx.fold({ type: 'SynchronousStandbyChanged', primary: decision.primary, standby: decision.standby, at: Date.now() });
  }
}
