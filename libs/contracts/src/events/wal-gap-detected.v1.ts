import { z } from 'zod';
import { NameSchema, TextSchema, UtcTimestampSchema } from '../envelope.js';
import { LsnSchema } from './failover-triggered.v2.js';

/**
 * The WAL archive of a PostgreSQL resource has a hole it cannot close: WAL between `fromLsn` (the
 * end of what the archive holds) and `toLsn` (where streaming can resume) is no longer on the
 * server (the replication slot was dropped and recreated, or its WAL removed). No point-in-time
 * recovery can cross the gap: the recoverable window restarts at the next base backup, which the
 * backup service starts at once (`baseBackupId`).
 */
export const WalGapDetectedV1Schema = z.object({
  policy: NameSchema.describe('the policy whose wal section archives the resource'),
  slot: NameSchema.describe('the replication slot WAL is streamed from'),
  timeline: z.int().positive().describe('the timeline the gap is on'),
  fromLsn: LsnSchema.describe('end of the archived WAL: the first position missing'),
  toLsn: LsnSchema.describe('where the archive resumes: the first position archived again'),
  missingSegments: z
    .object({ first: z.string().regex(/^[0-9A-F]{24}$/), last: z.string().regex(/^[0-9A-F]{24}$/) })
    .describe('the WAL segment files the gap spans (both included)'),
  reason: TextSchema.min(1).describe('what was observed, naming the missing range'),
  detectedAt: UtcTimestampSchema,
  baseBackupId: z.uuid().nullable().describe('the base backup started to begin a new recoverable window; null when none could be started (the reason says why)'),
});

export type WalGapDetectedV1 = z.infer<typeof WalGapDetectedV1Schema>;
