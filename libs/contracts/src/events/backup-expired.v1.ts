import { z } from 'zod';
import { UtcTimestampSchema } from '../envelope.js';

export const CopyDeletionSchema = z.object({
  location: z.string().min(1),
  uri: z.string().min(1),
  deleted: z.boolean(),
  error: z.string().nullable(),
});

/** A backup removed by its retention policy, from every location. */
export const BackupExpiredV1Schema = z.object({
  backupId: z.uuid(),
  recoveryPoint: UtcTimestampSchema,
  policy: z.string().min(1),
  reason: z.string().min(1).describe('which retention rule no longer keeps it'),
  copies: z.array(CopyDeletionSchema),
});

export type BackupExpiredV1 = z.infer<typeof BackupExpiredV1Schema>;
