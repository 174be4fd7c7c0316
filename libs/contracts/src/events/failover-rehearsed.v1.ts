import { z } from 'zod';
import { NameSchema, TextSchema } from '../envelope.js';

/**
 * The failover service's answer to a drill's `DrillStepRequested`: the switchover it ran (or why
 * it could not), with the measured RTO and the data lost. Caused by the request; published by
 * `failover` alone (the `Failover*` types are its own).
 */
export const FailoverRehearsedV1Schema = z.object({
  drillId: z.uuid(),
  requestId: z.uuid().describe('the DrillStepRequested event answered'),
  outcome: z.enum(['completed', 'failed']),
  from: NameSchema.nullable().describe('the primary before the switchover'),
  to: NameSchema.nullable().describe('the standby promoted'),
  failoverId: z.uuid().nullable(),
  rtoMs: z.int().nonnegative().nullable().describe('the switchover\'s measured RTO'),
  dataLostBytes: z.int().nonnegative().nullable().describe('WAL bytes not on the promoted standby (0 for a completed switchover)'),
  switchBack: z.object({
    outcome: z.enum(['completed', 'failed', 'skipped']),
    rtoMs: z.int().nonnegative().nullable(),
    reason: TextSchema.nullable(),
  }),
  reason: TextSchema.nullable().describe('why it failed; null when completed'),
});

export type FailoverRehearsedV1 = z.infer<typeof FailoverRehearsedV1Schema>;
