import { z } from 'zod';
import { EVENT_LIMITS, NameSchema, Sha256Schema, TextSchema, UriSchema, boundedArray } from '../envelope.js';

export const CopyCheckSchema = z.object({
  location: NameSchema,
  uri: UriSchema,
  readable: z.boolean(),
  sizeMatch: z.boolean(),
  hashMatch: z.boolean(),
  actualSha256: Sha256Schema.nullable(),
  durationMs: z.number().nonnegative(),
  mbPerSec: z.number().nonnegative().nullable(),
  error: TextSchema.nullable().describe('why the copy failed or could not be read'),
});

export const RestoreCheckSchema = z.object({
  name: TextSchema.min(1).max(EVENT_LIMITS.uri),
  passed: z.boolean(),
  detail: TextSchema.nullable(),
});

export const RestoreTestSchema = z.object({
  status: z.enum(['passed', 'failed', 'skipped']),
  durationMs: z.number().nonnegative().describe('measured restore time: the restore RTO'),
  checks: boundedArray(RestoreCheckSchema),
});

export const IntegrityVerifiedV1Schema = z.object({
  backupId: z.uuid(),
  verdict: z.enum(['passed', 'failed', 'unverifiable']),
  trigger: z.enum(['new', 'scrub', 'manual']),
  copies: boundedArray(CopyCheckSchema, EVENT_LIMITS.copies),
  restoreTest: RestoreTestSchema.nullable(),
  reasons: boundedArray(TextSchema).describe('every failed copy or check, named; empty when passed'),
});

export type CopyCheck = z.infer<typeof CopyCheckSchema>;
export type IntegrityVerifiedV1 = z.infer<typeof IntegrityVerifiedV1Schema>;
