import { z } from 'zod';
import { boundedArray, TextSchema, UtcTimestampSchema } from '../envelope.js';
import { DrillKindSchema, DrillStepSchema, DrillTargetsSchema } from './drill-started.v1.js';

/**
 * A drill ended: `passed` only when every step passed and the achieved RTO/RPO are within the
 * targets; otherwise `failed`, naming the first step that failed and why. `recoveredMs` is the
 * time from "disaster declared" (the drill's start) to "clients routed and data checked" (the
 * last step's end): for a full drill, its end-to-end RTO.
 */
export const DrillCompletedV1Schema = z.object({
  drillId: z.uuid(),
  kind: DrillKindSchema,
  outcome: z.enum(['passed', 'failed']),
  startedAt: UtcTimestampSchema,
  finishedAt: UtcTimestampSchema,
  targets: DrillTargetsSchema,
  achieved: z.object({
    rtoMs: z.int().nonnegative().nullable().describe('the worst step RTO, or for a full drill the end-to-end time'),
    rpoMs: z.int().nonnegative().nullable(),
  }),
  recoveredMs: z.int().nonnegative().nullable().describe('disaster declared → clients routed and data checked; null when it did not get there'),
  steps: boundedArray(
    z.object({
      step: DrillStepSchema,
      outcome: z.enum(['passed', 'failed']),
      durationMs: z.int().nonnegative(),
      rtoMs: z.int().nonnegative().nullable(),
      rpoMs: z.int().nonnegative().nullable(),
      reason: TextSchema.nullable(),
    }),
    4,
  ),
  failedStep: DrillStepSchema.nullable(),
  reason: TextSchema.nullable().describe('why it failed; null when passed'),
});

export type DrillCompletedV1 = z.infer<typeof DrillCompletedV1Schema>;
