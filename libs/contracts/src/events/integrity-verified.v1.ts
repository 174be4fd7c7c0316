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

/**
 * A base backup's restore test that replayed archived WAL to a target (decision 0025). Added as an
 * optional field of v1: every v1 event stays valid, and a consumer built before it ignores it.
 */
export const WalReplaySchema = z.object({
  target: z.enum(['restore-point', 'latest']).describe('a named restore point, or the newest archived WAL when there is none'),
  restorePoint: NameSchema.nullable().describe('recovery_target_name, when the target is a restore point'),
  targetLsn: z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i).describe('the position replay had to reach'),
  reachedLsn: z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i).nullable().describe('pg_last_wal_replay_lsn() once recovery ended'),
  segmentsFetched: z.int().nonnegative().describe('WAL files the restore_command fetched from the copies'),
  durationMs: z.number().nonnegative().describe('replay time: from starting the server to the end of recovery (promoted)'),
});

export const RestoreTestSchema = z.object({
  status: z.enum(['passed', 'failed', 'skipped']),
  durationMs: z.number().nonnegative().describe('measured restore time: the restore RTO'),
  checks: boundedArray(RestoreCheckSchema),
  replay: WalReplaySchema.nullable().optional().describe('base backups with archived WAL: the replay to a restore point or the latest archived WAL'),
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
export type WalReplay = z.infer<typeof WalReplaySchema>;
export type IntegrityVerifiedV1 = z.infer<typeof IntegrityVerifiedV1Schema>;
