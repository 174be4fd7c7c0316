import { z } from 'zod';
import { EVENT_LIMITS, NameSchema, TextSchema, UtcTimestampSchema, boundedArray } from '../envelope.js';
import { LsnSchema } from './failover-triggered.v2.js';

const SegmentNameSchema = z.string().regex(/^[0-9A-F]{24}$/, 'must be a WAL segment name (24 hex digits)');

/**
 * WAL retention removed archived WAL segments of a PostgreSQL resource from every copy location:
 * no retained base backup needs them (each segment ends at or before the oldest retained base
 * backup's start on its timeline, or lies on an older timeline than every retained base backup).
 * Timeline history files are never expired. After this event the recoverable window of the
 * resource begins at `earliestRecoverable.at`.
 */
export const WalExpiredV1Schema = z.object({
  policy: NameSchema,
  reason: TextSchema.min(1).describe('why these segments are no longer needed'),
  keptFrom: z
    .object({ backupId: z.uuid(), timeline: z.int().positive(), startLsn: LsnSchema })
    .describe('the oldest retained base backup: WAL from its start onward is kept'),
  earliestRecoverable: z
    .object({ backupId: z.uuid(), at: UtcTimestampSchema })
    .describe('the earliest moment a restore can reach after this expiry: the oldest retained base backup\'s end'),
  segments: z
    .object({
      count: z.int().positive(),
      first: SegmentNameSchema,
      last: SegmentNameSchema,
      timelines: boundedArray(z.int().positive()).min(1),
    })
    .describe('the segments removed (first and last by name; every one between on those timelines)'),
  copies: boundedArray(
    z.object({
      location: NameSchema,
      deleted: z.int().nonnegative().describe('segment copies removed from this location'),
      failed: z.int().nonnegative().describe('segment copies that could not be removed (tried again by the next run)'),
      error: TextSchema.nullable().describe('the first error, when any'),
    }),
    EVENT_LIMITS.copies,
  ),
});

export type WalExpiredV1 = z.infer<typeof WalExpiredV1Schema>;
