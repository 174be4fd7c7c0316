import { z } from 'zod';
import { NameSchema, TextSchema, UtcTimestampSchema } from '../envelope.js';

/**
 * A failover or switchover that was started (its epoch taken, usually a FailoverTriggered with the
 * same failoverId published) and then given up without a new primary being routed: a switchover
 * target that did not catch up in time (the old primary is made writable again), a promotion that
 * failed, a promoted member that would not accept writes, or an unfinished failover a successor
 * leader found not promoted. The epoch stays taken (epochs only grow).
 */
export const FailoverAbandonedV1Schema = z.object({
  failoverId: z.uuid().describe('the failoverId of the FailoverTriggered this ends'),
  fromInstance: NameSchema.min(1).describe('the primary when the failover began'),
  toInstance: NameSchema.min(1).nullable().describe('the member that was to be promoted; null when none had been chosen'),
  epoch: z.int().nonnegative().describe('the fencing epoch that was taken (it stays taken)'),
  planned: z.boolean().describe('true for a requested switchover'),
  reason: TextSchema.min(1).describe('why it was given up, and what state it left'),
  at: UtcTimestampSchema.describe('when it was given up'),
});

export type FailoverAbandonedV1 = z.infer<typeof FailoverAbandonedV1Schema>;
