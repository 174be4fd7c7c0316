import { z } from 'zod';
import { EVENT_LIMITS, NameSchema, TextSchema, UriSchema, UtcTimestampSchema, boundedArray } from '../envelope.js';

export const CopyDeletionSchema = z.object({
  location: NameSchema,
  uri: UriSchema,
  deleted: z.boolean(),
  error: TextSchema.nullable(),
});

/** A backup removed by its retention policy, from every location. */
export const BackupExpiredV1Schema = z.object({
  backupId: z.uuid(),
  recoveryPoint: UtcTimestampSchema,
  policy: NameSchema,
  reason: TextSchema.min(1).describe('which retention rule no longer keeps it'),
  copies: boundedArray(CopyDeletionSchema, EVENT_LIMITS.copies),
});

export type BackupExpiredV1 = z.infer<typeof BackupExpiredV1Schema>;
