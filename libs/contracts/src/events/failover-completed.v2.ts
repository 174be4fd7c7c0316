import { z } from 'zod';
import { NameSchema } from '../envelope.js';
import { FailoverCompletedV1, FailoverCompletedV1Schema } from './failover-completed.v1.js';

/**
 * v2 says, on the completion itself, what kind of change it was and between whom, so a reader
 * (the audit's RTO report, an SRE) need not find the FailoverTriggered it follows. Nullable, so
 * upcast v1 events can say "not stated".
 */
export const FailoverCompletedV2Schema = FailoverCompletedV1Schema.extend({
  planned: z.boolean().nullable().describe('true for a requested switchover, false for a failover; null when not stated'),
  fromInstance: NameSchema.min(1).nullable().describe('the primary before the change; null when not stated'),
  decidedBy: z
    .string()
    .min(1)
    .nullable()
    .describe('the failover instance that took the epoch and decided (for a failover finished by a successor leader, the one that started it); null when not stated'),
});

export type FailoverCompletedV2 = z.infer<typeof FailoverCompletedV2Schema>;

export const upcastFailoverCompletedV1 = (v1: FailoverCompletedV1): FailoverCompletedV2 => ({
  ...v1,
  planned: null,
  fromInstance: null,
  decidedBy: null,
});
