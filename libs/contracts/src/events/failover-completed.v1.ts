import { z } from 'zod';
import { NameSchema, UtcTimestampSchema } from '../envelope.js';

export const FailoverCompletedV1Schema = z.object({
  failoverId: z.uuid(),
  newPrimary: NameSchema.min(1),
  epoch: z.int().nonnegative(),
  rtoMs: z.number().nonnegative().describe('first failed probe → writable and routed'),
  replicationLagBytes: z.int().nonnegative().nullable().describe('lag at promotion: the bound on data lost'),
  timeline: z.object({
    firstFailureAt: UtcTimestampSchema.nullable(),
    detectedAt: UtcTimestampSchema,
    decidedAt: UtcTimestampSchema,
    promotedAt: UtcTimestampSchema,
    writableAt: UtcTimestampSchema,
    routedAt: UtcTimestampSchema,
  }),
});

export type FailoverCompletedV1 = z.infer<typeof FailoverCompletedV1Schema>;
