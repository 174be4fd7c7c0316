import { z } from 'zod';
import { EVENT_LIMITS, NameSchema, TextSchema, UriSchema, boundedArray } from '../envelope.js';

export const CopyCleanupSchema = z.object({
  location: NameSchema,
  uri: UriSchema,
  removed: z.boolean().describe('true when the partial copy (or temp file) is gone'),
  error: TextSchema.nullable(),
});

/** A backup that failed anywhere: never followed by a BackupCreated for the same backupId. */
export const BackupFailedV1Schema = z.object({
  backupId: z.uuid(),
  resourceKind: z.enum(['postgres', 'directory', 'external']),
  method: NameSchema,
  stage: z.enum(['config', 'source', 'copy', 'finalize']).describe('where it failed'),
  reason: TextSchema.min(1),
  location: z.string().max(EVENT_LIMITS.name).nullable().describe('the copy location that failed, when one did'),
  cleanedUp: boundedArray(CopyCleanupSchema, EVENT_LIMITS.copies).describe('every copy started, and whether it was removed'),
});

export type BackupFailedV1 = z.infer<typeof BackupFailedV1Schema>;
