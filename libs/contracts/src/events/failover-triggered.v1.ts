import { z } from 'zod';
import { NameSchema, TextSchema, UtcTimestampSchema, boundedArray } from '../envelope.js';

export const FailoverCandidateSchema = z.object({
  instance: NameSchema.min(1),
  lsn: NameSchema.nullable().describe('last WAL position received or replayed'),
  lagBytes: z.int().nonnegative().nullable(),
  eligible: z.boolean(),
  reason: TextSchema.nullable().describe('why the candidate was or was not chosen'),
});

export const FailoverTriggeredV1Schema = z.object({
  failoverId: z.uuid(),
  fromInstance: NameSchema.min(1),
  toInstance: NameSchema.min(1).nullable().describe('chosen standby; null when none qualifies'),
  planned: z.boolean().describe('true for a requested switchover'),
  reason: TextSchema.min(1),
  firstFailureAt: UtcTimestampSchema.nullable(),
  detectedAt: UtcTimestampSchema,
  epoch: z.int().nonnegative().describe('fencing epoch after the increment'),
  candidates: boundedArray(FailoverCandidateSchema),
});

export type FailoverCandidate = z.infer<typeof FailoverCandidateSchema>;
export type FailoverTriggeredV1 = z.infer<typeof FailoverTriggeredV1Schema>;
