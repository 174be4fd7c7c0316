import { z } from 'zod';
import { NameSchema, TextSchema, UtcTimestampSchema } from '../envelope.js';
import { FailoverTriggeredV1, FailoverTriggeredV1Schema } from './failover-triggered.v1.js';

/** A WAL position in PostgreSQL's text form (`pg_current_wal_lsn()` etc.), e.g. `0/3000060`. */
export const LsnSchema = z
  .string()
  .regex(/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/, 'must be a WAL position in PostgreSQL text form, e.g. 0/3000060');

/** One probe of one member, as the deciding instance saw it. Null: the probe did not report it (e.g. unreachable). */
export const FailoverObservationSchema = z.object({
  member: NameSchema.min(1),
  at: UtcTimestampSchema.describe('when the probe ran'),
  reachable: z.boolean().describe('a fresh connection was made and answered within the probe timeout'),
  inRecovery: z.boolean().nullable().describe('pg_is_in_recovery()'),
  readOnly: z.boolean().nullable().describe('default_transaction_read_only = on'),
  currentLsn: LsnSchema.nullable().describe('primary: pg_current_wal_lsn()'),
  receiveLsn: LsnSchema.nullable().describe('standby: pg_last_wal_receive_lsn()'),
  replayLsn: LsnSchema.nullable().describe('standby: pg_last_wal_replay_lsn()'),
  error: TextSchema.nullable().describe('why the probe failed'),
});

/**
 * v2 carries what the decision rested on as data rather than prose in `reason` (which stays a
 * short sentence): the probes, the instance that decided, when the primary was last seen healthy
 * and the WAL position lag was measured against. Nullable, so upcast v1 events and external
 * publishers can say "not stated".
 */
export const FailoverTriggeredV2Schema = FailoverTriggeredV1Schema.extend({
  observations: z
    .array(FailoverObservationSchema)
    .nullable()
    .describe("the probes behind the decision: each of the failed primary's consecutive failed probes, then the latest probe of every other member; null when not stated"),
  decidedBy: NameSchema.min(1).nullable().describe('the failover instance that took the epoch and decided; null when not stated'),
  lastHealthyAt: UtcTimestampSchema.nullable().describe('latest probe that found the old primary healthy; null when never seen healthy or not stated'),
  primaryLsn: LsnSchema.nullable().describe("the old primary's last known WAL position, against which candidates' lag is measured; null when unknown or not stated"),
});

export type FailoverObservation = z.infer<typeof FailoverObservationSchema>;
export type FailoverTriggeredV2 = z.infer<typeof FailoverTriggeredV2Schema>;

/** v1 folded observations, decider and last-healthy time into `reason` at most: "not stated", never parsed out of prose. */
export const upcastFailoverTriggeredV1 = (v1: FailoverTriggeredV1): FailoverTriggeredV2 => ({
  ...v1,
  observations: null,
  decidedBy: null,
  lastHealthyAt: null,
  primaryLsn: null,
});
