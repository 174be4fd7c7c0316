import { z } from 'zod';
import { NameSchema, TextSchema, UtcTimestampSchema, boundedArray } from '../envelope.js';
import { FailoverTriggeredV2, FailoverTriggeredV2Schema } from './failover-triggered.v2.js';

/**
 * What a failed primary's fence command (STONITH: power off, stop the service, detach the volume)
 * did before a standby was promoted in its place. Run once per failover; a later attempt in the
 * same outage reuses an earlier attempt's success rather than running it again (`ran: false`).
 */
export const FenceCommandOutcomeSchema = z.object({
  member: NameSchema.min(1).describe('the old primary the command fenced'),
  command: boundedArray(z.string()).min(1).describe('its argv as configured, secrets redacted; run without a shell'),
  ran: z.boolean().describe('true: run for this failover; false: an earlier attempt in this outage (epoch `epoch`) fenced it already'),
  epoch: z.int().nonnegative().describe('the failover epoch the command ran for'),
  outcome: z
    .enum(['succeeded', 'failed', 'timed-out', 'not-started'])
    .describe('succeeded: exit 0; failed: another exit status or a signal; timed-out: killed at its timeout; not-started: could not be run'),
  exitCode: z.int().nullable().describe('null when killed by a signal or not started'),
  signal: z.string().nullable().describe('the signal that ended it, e.g. SIGKILL at the timeout'),
  startedAt: UtcTimestampSchema,
  durationMs: z.int().nonnegative(),
  required: z.boolean().describe('configured `fence.required`: when true and the command did not succeed, nothing was promoted'),
  output: TextSchema.describe('the first lines of its stdout and stderr, bounded, secrets redacted'),
});

/**
 * v3 says whether the failed primary was fenced by its configured command before the promotion,
 * and how that went. Null: no fence command configured for it, not a failover that promotes
 * (a switchover, or no candidate), or not stated (upcast v1/v2 events).
 */
export const FailoverTriggeredV3Schema = FailoverTriggeredV2Schema.extend({
  fence: FenceCommandOutcomeSchema.nullable().describe("the old primary's fence command run before promotion; null when none was configured or run, or not stated"),
});

export type FenceCommandOutcome = z.infer<typeof FenceCommandOutcomeSchema>;
export type FailoverTriggeredV3 = z.infer<typeof FailoverTriggeredV3Schema>;

/** v2 had no fence command: "not stated". */
export const upcastFailoverTriggeredV2 = (v2: FailoverTriggeredV2): FailoverTriggeredV3 => ({ ...v2, fence: null });
