import { z } from 'zod';
import { NameSchema, UtcTimestampSchema } from '../envelope.js';

/**
 * The drill coordinator (backup) asks the failover service to rehearse a failover of the
 * envelope's resource: a planned switchover to `standby` (or any eligible standby), then back to
 * the former primary when `switchBack` and the former primary can take it. The failover service
 * acts only on requests whose source is `backup` (provenance policy: `Drill*` is backup's) and
 * before `deadline`, and answers with `FailoverRehearsed` caused by this event.
 */
export const DrillStepRequestedV1Schema = z.object({
  drillId: z.uuid(),
  step: z.literal('failover'),
  standby: NameSchema.nullable().describe('the standby to switch to; null: the most up-to-date eligible one'),
  switchBack: z.boolean(),
  deadline: UtcTimestampSchema.describe('after this the request is stale: answered failed, not acted on'),
});

export type DrillStepRequestedV1 = z.infer<typeof DrillStepRequestedV1Schema>;
