import { z } from 'zod';
import { Sha256Schema } from '../envelope.js';

export const CopyCheckSchema = z.object({
  location: z.string().min(1),
  uri: z.string().min(1),
  readable: z.boolean(),
  sizeMatch: z.boolean(),
  hashMatch: z.boolean(),
  actualSha256: Sha256Schema.nullable(),
  durationMs: z.number().nonnegative(),
  mbPerSec: z.number().nonnegative().nullable(),
  error: z.string().nullable().describe('why the copy failed or could not be read'),
});

export const RestoreCheckSchema = z.object({
  name: z.string().min(1),
  passed: z.boolean(),
  detail: z.string().nullable(),
});

export const RestoreTestSchema = z.object({
  status: z.enum(['passed', 'failed', 'skipped']),
  durationMs: z.number().nonnegative().describe('measured restore time: the restore RTO'),
  checks: z.array(RestoreCheckSchema),
});

export const IntegrityVerifiedV1Schema = z.object({
  backupId: z.uuid(),
  verdict: z.enum(['passed', 'failed', 'unverifiable']),
  trigger: z.enum(['new', 'scrub', 'manual']),
  copies: z.array(CopyCheckSchema),
  restoreTest: RestoreTestSchema.nullable(),
  reasons: z.array(z.string()).describe('every failed copy or check, named; empty when passed'),
});

export type CopyCheck = z.infer<typeof CopyCheckSchema>;
export type IntegrityVerifiedV1 = z.infer<typeof IntegrityVerifiedV1Schema>;
