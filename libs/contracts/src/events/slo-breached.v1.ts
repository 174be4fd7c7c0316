import { z } from 'zod';
import { EVENT_LIMITS, TextSchema, UtcTimestampSchema, boundedArray } from '../envelope.js';

/** Which service-level objective: data loss (RPO), recovery time (RTO) or availability. */
export const SloKindSchema = z.enum(['rpo', 'rto', 'availability']);

/** A measurement against its target: milliseconds for RPO/RTO, a ratio (0…1) for availability. */
export const SloMeasureSchema = z.object({
  measured: z.number().nonnegative().describe('the value that crossed (ms, or a ratio for availability)'),
  target: z.number().nonnegative().describe('the target it is judged against, same unit'),
  unit: z.enum(['ms', 'ratio']),
});

/**
 * The audit service found a resource outside one of its service-level objectives: RPO exposure
 * above the RPO target (judged against the clock, not only when events arrive), a failover or
 * restore that took longer than the RTO target, or availability over the tracked window below
 * target. `breachId` is also the event's id and is derived from what started the breach, so a
 * restarted or second audit instance emits the same breach under the same id (a duplicate the
 * stream and the ledger drop). Published by `audit` only; ledgered like any event.
 */
export const SloBreachedV1Schema = SloMeasureSchema.extend({
  breachId: z.uuid().describe('names this breach; SloRestored refers to it'),
  kind: SloKindSchema,
  since: UtcTimestampSchema.describe('when the measurement crossed the target'),
  detail: TextSchema.min(1).describe('what crossed, in words'),
  evidence: boundedArray(z.uuid(), EVENT_LIMITS.list).describe('ledger event ids the measurement rests on'),
});

export type SloKind = z.infer<typeof SloKindSchema>;
export type SloBreachedV1 = z.infer<typeof SloBreachedV1Schema>;
