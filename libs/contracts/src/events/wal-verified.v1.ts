import { z } from 'zod';
import { EVENT_LIMITS, NameSchema, TextSchema, UriSchema, UtcTimestampSchema, boundedArray } from '../envelope.js';

const LsnSchema = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i, 'must be a WAL position such as 0/2000028');
const WalFileNameSchema = z.string().regex(/^([0-9A-F]{24}|[0-9A-F]{8}\.history)$/, 'must be a WAL segment name (24 hex digits) or <timeline>.history');

/** How many copies of the checked files were good, bad or unreadable by the verifier, in one location. */
export const WalLocationTallySchema = z.object({
  location: NameSchema,
  ok: z.int().nonnegative(),
  failed: z.int().nonnegative(),
  unverifiable: z.int().nonnegative().describe('copies the verifier has no reader for (a location type it cannot read)'),
});

/** One copy that did not match: missing, unreadable, another size or another SHA-256 than archived. */
export const WalFailedCopySchema = z.object({
  name: WalFileNameSchema,
  location: NameSchema,
  uri: UriSchema,
  error: TextSchema,
});

/** A hole in a timeline's chain: no archived WAL between `fromLsn` (an archived file's end) and `toLsn` (the next one's start). */
export const WalGapSchema = z.object({
  timeline: z.int().positive(),
  fromLsn: LsnSchema,
  toLsn: LsnSchema,
  detail: TextSchema.describe('what is missing, e.g. the segments between two archived ones, or a timeline history file'),
});

/** The contiguous archived range of a timeline (from its first archived byte to its newest, gaps listed apart). */
export const WalTimelineSpanSchema = z.object({
  timeline: z.int().positive(),
  startLsn: LsnSchema,
  endLsn: LsnSchema,
  segments: z.int().nonnegative(),
});

/**
 * The verifier re-read the copies of archived WAL and checked the chain of the resource: published
 * for each `WalArchived` (trigger `new`, caused by it) and for each scrub round of a resource
 * (trigger `scrub`). `gaps` is the whole chain's state after this check (every open gap), not only
 * the new ones; `failedCopies` are this check's.
 */
export const WalVerifiedV1Schema = z.object({
  trigger: z.enum(['new', 'scrub']),
  verdict: z.enum(['passed', 'failed', 'unverifiable']).describe('failed: a bad copy or a gap; unverifiable: a copy the verifier cannot read; else passed'),
  segmentsChecked: z.int().nonnegative().describe('WAL files whose copies were re-read'),
  copies: boundedArray(WalLocationTallySchema, EVENT_LIMITS.copies).describe('per location, the copies read in this check'),
  failedCopies: boundedArray(WalFailedCopySchema, 1_000),
  gaps: boundedArray(WalGapSchema, 1_000),
  timelines: boundedArray(WalTimelineSpanSchema, 1_000).describe('the archived span of each timeline'),
  verifiedAt: UtcTimestampSchema,
});

export type WalVerifiedV1 = z.infer<typeof WalVerifiedV1Schema>;
export type WalGap = z.infer<typeof WalGapSchema>;
