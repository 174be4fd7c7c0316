import { z } from 'zod';
import { EventIdSchema, EventTypeSchema, NameSchema, TextSchema, UtcTimestampSchema } from '../envelope.js';

/**
 * The audit service's notifier told a channel about an event (`delivered`), or gave up because the
 * channel refused it for good (`refused`: a 4xx other than 429; the event is dead-lettered too).
 * The envelope's `resource` is the notified event's resource and `causationId` its id. Never
 * carries the channel's URL or its secret: the channel is named, not located.
 */
export const NotificationDeliveredV1Schema = z.object({
  channel: NameSchema.describe('the configured channel name'),
  channelKind: z.enum(['webhook', 'slack']).describe('the payload format the channel receives'),
  eventId: EventIdSchema.describe('the notified event'),
  eventType: EventTypeSchema.describe('the notified event type'),
  attempts: z.int().min(1).max(1_000_000).describe('HTTP attempts made, the last included'),
  outcome: z.enum(['delivered', 'refused']),
  httpStatus: z.int().min(100).max(599).nullable().describe("the channel's last HTTP status; null when none answered"),
  reason: TextSchema.nullable().describe('why refused (credentials redacted); null when delivered'),
  at: UtcTimestampSchema.describe('when delivered or refused'),
});

export type NotificationDeliveredV1 = z.infer<typeof NotificationDeliveredV1Schema>;
