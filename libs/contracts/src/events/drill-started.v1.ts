import { z } from 'zod';
import { EVENT_LIMITS, NameSchema, UtcTimestampSchema } from '../envelope.js';

/** What a drill rehearses: a restore, a switchover and back, or both (a whole recovery). */
export const DrillKindSchema = z.enum(['restore', 'failover', 'full']);
export type DrillKind = z.infer<typeof DrillKindSchema>;

/** The steps a drill runs, in order, by kind. */
export const DrillStepSchema = z.enum(['restore', 'failover']);
export type DrillStep = z.infer<typeof DrillStepSchema>;

/** The recovery objectives a drill is judged against (the resource's drill targets). */
export const DrillTargetsSchema = z.object({
  rtoMs: z.int().positive().describe('recovery time objective: a step (and a full drill) taking longer fails'),
  rpoMs: z.int().positive().describe('recovery point objective: more data at risk than this fails'),
});

/**
 * A recovery drill began (the backup service coordinates drills). The envelope's `resource` is
 * the resource rehearsed; every later event of the drill (`DrillStepRequested`,
 * `DrillStepCompleted`, `DrillCompleted`) carries the same `drillId` and this event's correlation.
 * A drill never touches production data: restores go into a scratch target it creates and drops.
 */
export const DrillStartedV1Schema = z.object({
  drillId: z.uuid(),
  kind: DrillKindSchema,
  steps: z.array(DrillStepSchema).min(1).max(2).describe('the steps it will run, in order'),
  targets: DrillTargetsSchema,
  trigger: z.enum(['api', 'cli', 'schedule']),
  requestedBy: z.string().max(EVENT_LIMITS.name).nullable().describe('who asked, when known'),
  startedAt: UtcTimestampSchema.describe('"disaster declared": the start of the full drill\'s clock'),
  scheduleSlot: UtcTimestampSchema.nullable().describe('the schedule slot it serves; null when asked for'),
  stepTimeoutMs: z.int().positive(),
  failoverStandby: NameSchema.nullable().describe('the standby the failover step switches to; null: none (restore) or any eligible'),
});

export type DrillStartedV1 = z.infer<typeof DrillStartedV1Schema>;
