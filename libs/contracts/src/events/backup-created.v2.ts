import { z } from 'zod';
import { EVENT_LIMITS, NameSchema, Sha256Schema, TextSchema, UriSchema, boundedArray } from '../envelope.js';
import { BackupCopySchema, BackupCreatedV1, BackupCreatedV1Schema } from './backup-created.v1.js';

/**
 * v2 adds what a reader of the fact needs to trust and use the copies without asking the backup
 * service: the policy, where each copy's manifest is, whether the artifact is encrypted (hashes
 * stay over the stored bytes, so anyone can check a copy without the key), the plaintext hash,
 * and the 3-2-1 assessment (including an explicit opt-out, which every such backup carries).
 * Fields are nullable so external publishers and upcast v1 events can say "not stated".
 */
export const BackupCopyV2Schema = BackupCopySchema.extend({
  manifestUri: UriSchema.nullable().describe('where the copy\'s manifest is (backup id, hashes, tool versions, per-file index)'),
});

export const ThreeTwoOneSchema = z.object({
  compliant: z.boolean().describe('≥ 3 copies, ≥ 2 media, ≥ 1 copy off the resource\'s own site'),
  resourceSite: NameSchema.nullable().describe('the site the resource lives in, against which off-site is judged'),
  failedRules: z.array(z.enum(['three-copies', 'two-media', 'one-offsite'])),
  optOut: TextSchema.min(1).nullable().describe('why the policy accepts not meeting 3-2-1; null when it does not opt out'),
});

const LsnSchema = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i, 'must be a WAL position such as 0/2000028');

/**
 * Added to v2 as an optional field (readers that do not know it ignore it; events without it stay
 * valid): what point-in-time recovery needs to pair a base backup with the WAL archive.
 */
export const BaseBackupFactsSchema = z.object({
  startLsn: LsnSchema.describe('WAL position where replay must start (backup_label START WAL LOCATION)'),
  endLsn: LsnSchema.describe('WAL position replay must reach for the copy to be consistent (backup_manifest WAL-Ranges End-LSN)'),
  timeline: z.int().positive().describe('the timeline the backup was taken on'),
  label: z.string().describe('the backup label (continuity-<backupId>)'),
  pgVersion: z.string().min(1).describe("the cluster's PostgreSQL major version (PG_VERSION)"),
  systemIdentifier: z.string().regex(/^\d+$/).describe("the cluster's system identifier (pg_control), decimal"),
});

export const BackupCreatedV2Schema = BackupCreatedV1Schema.extend({
  policy: NameSchema.nullable().describe('the policy that made the backup; null when not stated'),
  copies: boundedArray(BackupCopyV2Schema, EVENT_LIMITS.copies).min(1),
  plaintext: z
    .object({ sha256: Sha256Schema, sizeBytes: z.int().nonnegative() })
    .nullable()
    .describe('the artifact before encryption; equals sha256/sizeBytes when not encrypted; null when not stated'),
  encryption: z
    .object({ format: z.literal('age'), recipients: boundedArray(UriSchema).min(1) })
    .nullable()
    .describe('how the stored bytes are encrypted; null when they are not (or v1 did not say)'),
  threeTwoOne: ThreeTwoOneSchema.nullable().describe('null when the publisher did not assess 3-2-1'),
  basebackup: BaseBackupFactsSchema.optional().describe('physical base backups (method basebackup) only: WAL range, timeline, label, server identity'),
});

export type BackupCopyV2 = z.infer<typeof BackupCopyV2Schema>;
export type BaseBackupFacts = z.infer<typeof BaseBackupFactsSchema>;
export type BackupCreatedV2 = z.infer<typeof BackupCreatedV2Schema>;

/** v1 said nothing about policy, manifests, encryption or 3-2-1: "not stated", never guessed. */
export const upcastBackupCreatedV1 = (v1: BackupCreatedV1): BackupCreatedV2 => ({
  ...v1,
  policy: null,
  copies: v1.copies.map((copy) => ({ ...copy, manifestUri: null })),
  plaintext: null,
  encryption: null,
  threeTwoOne: null,
});
