import { z } from 'zod';
import { EVENT_LIMITS, TextSchema, boundedArray } from '../envelope.js';

/** A rule of the risk register, e.g. `three-two-one-lost`; new rules need no new event version. */
export const RiskRuleSchema = z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, 'must be a rule id such as three-two-one-lost');
export const RiskSeveritySchema = z.enum(['low', 'medium', 'high', 'critical']);

/**
 * The audit service's risk register found a risk for a resource: a rule over the projection (no
 * verified recovery point within the RPO target, copies all on one site, a failed scrub that
 * withdrew 3-2-1, a WAL archive gap, …) holds. `riskId` is also the event's id, derived from the
 * resource, the rule and the fact that raised it, so re-evaluation after a restart names the same
 * risk. Published by `audit` only; ledgered like any event; `RiskResolved` ends it.
 */
export const RiskIdentifiedV1Schema = z.object({
  riskId: z.uuid(),
  rule: RiskRuleSchema,
  severity: RiskSeveritySchema,
  summary: TextSchema.min(1).describe('what is at risk, in one sentence'),
  mitigation: TextSchema.min(1).describe('what to do about it, in words'),
  evidence: boundedArray(z.uuid(), EVENT_LIMITS.list).describe('ledger event ids the finding rests on (empty: the absence of any)'),
});

export type RiskRule = z.infer<typeof RiskRuleSchema>;
export type RiskSeverity = z.infer<typeof RiskSeveritySchema>;
export type RiskIdentifiedV1 = z.infer<typeof RiskIdentifiedV1Schema>;
