import { z } from 'zod';
import { EVENT_LIMITS, TextSchema, UtcTimestampSchema, boundedArray } from '../envelope.js';
import { SloKindSchema, SloMeasureSchema } from './slo-breached.v1.js';

/**
 * A breach announced by `SloBreached` is over: the measurement is back within its target (a new
 * durable recovery point, a recovery within the RTO target, availability recovered). Refers to the
 * breach by `breachId`; `measured` is the value now.
 */
export const SloRestoredV1Schema = SloMeasureSchema.extend({
  breachId: z.uuid().describe('the SloBreached this ends'),
  kind: SloKindSchema,
  breachedAt: UtcTimestampSchema.describe('the breach\'s `since`'),
  restoredAt: UtcTimestampSchema.describe('when the measurement came back within target'),
  detail: TextSchema.min(1),
  evidence: boundedArray(z.uuid(), EVENT_LIMITS.list).describe('ledger event ids that ended the breach'),
});

export type SloRestoredV1 = z.infer<typeof SloRestoredV1Schema>;
