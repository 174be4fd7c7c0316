import { z } from 'zod';
import { EVENT_LIMITS, NameSchema, Sha256Schema, UriSchema, UtcTimestampSchema, boundedArray } from '../envelope.js';

const LsnSchema = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i, 'must be a WAL position such as 0/2000028');

/** One stored copy of a WAL segment (or history file). */
export const WalCopySchema = z.object({
  location: NameSchema.describe('name of the copy location in the backup configuration'),
  site: NameSchema.describe('where the copy physically is'),
  medium: NameSchema.describe('kind of storage, e.g. disk, object'),
  uri: UriSchema.describe('where to read the copy'),
  sha256: Sha256Schema.describe('SHA-256 of the stored bytes'),
});

/**
 * One WAL file as archived (a partial segment: one version of it, named by `object`). `name` is PostgreSQL's own file name: a segment (24 hex digits:
 * timeline, log, segment) or a timeline history file (`<timeline>.history`, with no LSN range of
 * its own: start and end are the position where the timeline begins). Hashes are over the stored
 * bytes (zstd, then age when encrypted), so any reader can check a copy without the key; the
 * plaintext hash is what a restore checks after decrypting and decompressing.
 */
export const WalSegmentSchema = z.object({
  name: z.string().regex(/^([0-9A-F]{24}|[0-9A-F]{8}\.history)$/, 'must be a WAL segment name (24 hex digits) or <timeline>.history'),
  object: z
    .string()
    .regex(/^[0-9A-F]{24}\.partial\.[0-9A-F]{8}$/, 'must be <segment>.partial.<8 hex digits>')
    .optional()
    .describe('a partial segment: the name this shipment (version) is stored under, `<name>.partial.<bytes received, hex>`, never overwritten; absent: stored under `name`'),
  kind: z.enum(['segment', 'history']).describe('a WAL segment or a timeline history file'),
  timeline: z.int().positive(),
  startLsn: LsnSchema.describe('first WAL position the file holds'),
  endLsn: LsnSchema.describe('position just after the last byte it holds (a finished segment: the next segment\'s start)'),
  partial: z
    .boolean()
    .describe('true: the segment still being written, shipped so far, under `object` (each shipment a version of its own; before versions, under `name`); a later event ships it finished under `name`'),
  sha256: Sha256Schema.describe('SHA-256 of the stored bytes'),
  sizeBytes: z.int().nonnegative().describe('stored bytes'),
  plaintextSha256: Sha256Schema.describe('SHA-256 of the WAL file itself'),
  plaintextSizeBytes: z.int().nonnegative(),
  copies: boundedArray(WalCopySchema, EVENT_LIMITS.copies).min(1),
}).refine((s) => s.object === undefined || (s.partial && s.object.startsWith(`${s.name}.`)), { message: 'object must be a version of the partial segment named', path: ['object'] });

/**
 * The backup service archived WAL of a PostgreSQL resource: one event per shipment, listing each
 * file shipped, every copy of each durable before the event was queued. Together these events
 * are the tamper-evident record of the WAL chain (per timeline, each segment's endLsn is the next
 * one's startLsn).
 */
export const WalArchivedV1Schema = z.object({
  policy: NameSchema.describe('the policy whose wal section archives the resource'),
  slot: NameSchema.describe('the replication slot WAL is streamed from'),
  shippedAt: UtcTimestampSchema,
  encryption: z
    .object({ format: z.literal('age'), recipients: boundedArray(UriSchema).min(1) })
    .nullable()
    .describe('how the stored bytes are encrypted; null when they are not'),
  segments: boundedArray(WalSegmentSchema, 1_000).min(1),
});

export type WalCopy = z.infer<typeof WalCopySchema>;
export type WalSegment = z.infer<typeof WalSegmentSchema>;
export type WalArchivedV1 = z.infer<typeof WalArchivedV1Schema>;
