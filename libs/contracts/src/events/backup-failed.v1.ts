import { z } from 'zod';

export const CopyCleanupSchema = z.object({
  location: z.string().min(1),
  uri: z.string().min(1),
  removed: z.boolean().describe('true when the partial copy (or temp file) is gone'),
  error: z.string().nullable(),
});

/** A backup that failed anywhere: never followed by a BackupCreated for the same backupId. */
export const BackupFailedV1Schema = z.object({
  backupId: z.uuid(),
  resourceKind: z.enum(['postgres', 'directory', 'external']),
  method: z.string().min(1),
  stage: z.enum(['config', 'source', 'copy', 'finalize']).describe('where it failed'),
  reason: z.string().min(1),
  location: z.string().nullable().describe('the copy location that failed, when one did'),
  cleanedUp: z.array(CopyCleanupSchema).describe('every copy started, and whether it was removed'),
});

export type BackupFailedV1 = z.infer<typeof BackupFailedV1Schema>;
