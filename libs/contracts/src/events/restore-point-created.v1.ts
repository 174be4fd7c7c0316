import { z } from 'zod';
import { NameSchema, UtcTimestampSchema } from '../envelope.js';
import { LsnSchema } from './failover-triggered.v2.js';

/**
 * PostgreSQL restore point names: what `pg_create_restore_point` accepts (fewer than 64 bytes) and
 * what a `recovery_target_name` can carry without quoting trouble.
 */
export const RestorePointNameSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, 'must be 1-63 letters, digits, "_", "." or "-"');

/**
 * The backup service created a named restore point in a PostgreSQL resource's WAL
 * (`pg_create_restore_point`): a recovery may stop exactly there (`recovery_target_name`), so the
 * verifier can replay a base backup to a known, recent target and check it was reached. The
 * point is in the archive once WAL up to `lsn` is (see WalArchived).
 */
export const RestorePointCreatedV1Schema = z.object({
  policy: NameSchema.describe('the policy whose wal section archives the resource'),
  name: RestorePointNameSchema.describe('the restore point name, for recovery_target_name'),
  lsn: LsnSchema.describe('the WAL position of the restore point record'),
  timeline: z.int().positive().describe('the timeline the point was created on'),
  createdAt: UtcTimestampSchema.describe('when the point was created (the server accepted it)'),
  trigger: z.enum(['interval', 'base-backup']).describe('interval: every wal.restorePointIntervalMs; base-backup: right after a base backup was created'),
  backupId: z.uuid().nullable().describe('the base backup it follows (trigger base-backup); null otherwise'),
});

export type RestorePointCreatedV1 = z.infer<typeof RestorePointCreatedV1Schema>;
