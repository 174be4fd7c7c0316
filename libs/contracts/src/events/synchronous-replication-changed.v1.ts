import { z } from 'zod';
import { NameSchema, TextSchema } from '../envelope.js';

/**
 * The failover service changed (or, on taking the lease, first reported) which standby a
 * `synchronous: true` resource's primary waits for before acknowledging a commit: its
 * `synchronous_standby_names`. `mode: relaxed` means no standby can acknowledge, so the primary
 * acknowledges commits on its own again (writes go on) and a failover from now on may lose
 * acknowledged commits; `mode: synchronous` means commits wait for `synchronousStandby`, the only
 * standby the service will promote while the mode lasts.
 */
export const SynchronousReplicationChangedV1Schema = z.object({
  primary: NameSchema.min(1).describe('the primary whose synchronous_standby_names was set'),
  mode: z.enum(['synchronous', 'relaxed']).describe('synchronous: commits wait for synchronousStandby; relaxed: for no standby'),
  synchronousStandby: NameSchema.min(1).nullable().describe('the standby commits wait for; null when relaxed'),
  previousStandby: NameSchema.min(1).nullable().describe('the standby named before this change; null when none was'),
  setting: TextSchema.describe("the synchronous_standby_names value now in force ('' when relaxed)"),
  epoch: z.int().nonnegative().describe('the fencing epoch of the primary'),
  reason: TextSchema.min(1).describe('why, as a short sentence naming each standby that could not be synchronous and why'),
  standbys: z
    .array(
      z.object({
        member: NameSchema.min(1),
        streaming: z.boolean().describe("listed as 'streaming' in the primary's pg_stat_replication at its latest probe"),
        eligible: z.boolean().describe('could be the synchronous standby'),
        reason: TextSchema.min(1),
      }),
    )
    .describe('every other member as the decision saw it'),
});

export type SynchronousReplicationChangedV1 = z.infer<typeof SynchronousReplicationChangedV1Schema>;
