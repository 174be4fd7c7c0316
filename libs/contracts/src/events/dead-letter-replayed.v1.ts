import { z } from 'zod';
import { EventIdSchema, EventTypeSchema, NameSchema, TextSchema, UriSchema, UtcTimestampSchema } from '../envelope.js';

/**
 * An operator sent a dead letter back to the one consumer that gave up on it (after a fix). The
 * replayed message keeps the original event id, so idempotent consumers apply it at most once.
 * The envelope's resource and causationId are those of the original event.
 */
export const DeadLetterReplayedV1Schema = z.object({
  consumer: z.string().min(1).max(256).describe('the durable consumer the dead letter was replayed to'),
  deadLetterStream: NameSchema,
  deadLetterSequence: z.int().positive().describe('stream sequence of the dead letter'),
  replaySequence: z.int().positive().describe('stream sequence of the replayed message in the replay stream'),
  original: z.object({
    eventId: EventIdSchema,
    type: EventTypeSchema,
    subject: UriSchema,
    streamSequence: z.int().positive().describe('sequence of the event in the event stream'),
  }),
  reason: TextSchema.describe('why the consumer had dead-lettered it'),
  deliveryCount: z.int().nonnegative(),
  replayedBy: NameSchema.describe('the operator who asked for the replay'),
  replayedAt: UtcTimestampSchema,
  forced: z.boolean().describe('true when the dead letter had been replayed before'),
});

export type DeadLetterReplayedV1 = z.infer<typeof DeadLetterReplayedV1Schema>;
