import { z } from 'zod';
import { EVENT_LIMITS, TextSchema, UtcTimestampSchema, boundedArray } from '../envelope.js';
import { RiskRuleSchema } from './risk-identified.v1.js';

/** A risk announced by `RiskIdentified` no longer holds (its rule passes again for the resource). */
export const RiskResolvedV1Schema = z.object({
  riskId: z.uuid().describe('the RiskIdentified this ends'),
  rule: RiskRuleSchema,
  identifiedAt: UtcTimestampSchema,
  detail: TextSchema.min(1).describe('why it no longer holds'),
  evidence: boundedArray(z.uuid(), EVENT_LIMITS.list).describe('ledger event ids that resolved it'),
});

export type RiskResolvedV1 = z.infer<typeof RiskResolvedV1Schema>;
