import { z } from 'zod';
import { boundedArray, NameSchema, TextSchema, UtcTimestampSchema } from '../envelope.js';
import { DrillStepSchema } from './drill-started.v1.js';

/** One check of a restored scratch target: row counts, a configured SQL assertion, the file index. */
export const DrillCheckSchema = z.object({
  name: NameSchema,
  ok: z.boolean(),
  detail: TextSchema,
});

/**
 * One step of a drill ended, passed or failed, with what it measured. `rtoMs` is the step's
 * recovery time (restore: first byte read to data checked; failover: the switchover's measured
 * RTO); `rpoMs` the data at risk (restore: age of the restored recovery point when the drill
 * began; failover: 0 when nothing was lost); `passed` compares them with the drill's targets.
 * A step that could not finish (timeout, a service down, the target unreachable) is `failed`
 * with the reason, and says what it cleaned up.
 */
export const DrillStepCompletedV1Schema = z.object({
  drillId: z.uuid(),
  step: DrillStepSchema,
  outcome: z.enum(['passed', 'failed']),
  startedAt: UtcTimestampSchema,
  finishedAt: UtcTimestampSchema,
  durationMs: z.int().nonnegative(),
  rtoMs: z.int().nonnegative().nullable().describe('measured recovery time; null when the step did not get that far'),
  rpoMs: z.int().nonnegative().nullable().describe('measured data at risk, in ms; null when unknown'),
  dataLostBytes: z.int().nonnegative().nullable().describe('failover: WAL bytes the new primary lacked; null for a restore'),
  backupId: z.uuid().nullable().describe('restore: the recovery point restored'),
  recoveryPoint: UtcTimestampSchema.nullable(),
  scratchTarget: TextSchema.nullable().describe('restore: the scratch database or directory (password redacted)'),
  scratchRemoved: z.boolean().nullable().describe('restore: the scratch target was dropped afterwards; null when none was made'),
  standby: NameSchema.nullable().describe('failover: the standby switched to'),
  checks: boundedArray(DrillCheckSchema),
  reason: TextSchema.nullable().describe('why it failed (secrets redacted); null when passed'),
});

export type DrillStepCompletedV1 = z.infer<typeof DrillStepCompletedV1Schema>;
