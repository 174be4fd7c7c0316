import { z } from 'zod';
import { UtcTimestampSchema } from '../envelope.js';

export const FailoverCandidateSchema = z.object({
  instance: z.string().min(1),
  lsn: z.string().nullable().describe('last WAL position received or replayed'),
  lagBytes: z.int().nonnegative().nullable(),
  eligible: z.boolean(),
  reason: z.string().nullable().describe('why the candidate was or was not chosen'),
});

export const FailoverTriggeredV1Schema = z.object({
  failoverId: z.uuid(),
  fromInstance: z.string().min(1),
  toInstance: z.string().min(1).nullable().describe('chosen standby; null when none qualifies'),
  planned: z.boolean().describe('true for a requested switchover'),
  reason: z.string().min(1),
  firstFailureAt: UtcTimestampSchema.nullable(),
  detectedAt: UtcTimestampSchema,
  epoch: z.int().nonnegative().describe('fencing epoch after the increment'),
  candidates: z.array(FailoverCandidateSchema),
});

export type FailoverCandidate = z.infer<typeof FailoverCandidateSchema>;
export type FailoverTriggeredV1 = z.infer<typeof FailoverTriggeredV1Schema>;
