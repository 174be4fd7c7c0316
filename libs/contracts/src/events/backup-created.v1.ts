import { z } from 'zod';
import { EVENT_LIMITS, NameSchema, Sha256Schema, UriSchema, UtcTimestampSchema, boundedArray } from '../envelope.js';

/** One stored copy of a backup artifact. `site` and `medium` are what 3-2-1 is judged on. */
export const BackupCopySchema = z.object({
  location: NameSchema.describe('name of the copy location in the backup configuration'),
  site: NameSchema.describe('where the copy physically is, e.g. eu-west-1a'),
  medium: NameSchema.describe('kind of storage, e.g. disk, object, tape'),
  uri: UriSchema.describe('where to read the copy: file://…, nats-object://bucket/name, s3://…'),
  sha256: Sha256Schema.describe('SHA-256 of the stored bytes'),
  sizeBytes: z.int().nonnegative(),
});

export const BackupCreatedV1Schema = z.object({
  backupId: z.uuid(),
  resourceKind: z.enum(['postgres', 'directory', 'external']),
  method: NameSchema.describe('how the artifact was made, e.g. pg_dump-custom, tar'),
  recoveryPoint: UtcTimestampSchema.describe('the moment whose data the backup holds'),
  sizeBytes: z.int().nonnegative(),
  sha256: Sha256Schema.describe('SHA-256 of the artifact as stored'),
  copies: boundedArray(BackupCopySchema, EVENT_LIMITS.copies).min(1),
});

export type BackupCopy = z.infer<typeof BackupCopySchema>;
export type BackupCreatedV1 = z.infer<typeof BackupCreatedV1Schema>;
