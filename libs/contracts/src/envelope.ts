import { z } from 'zod';

/** A protected resource's name, safe to use as one NATS subject token. */
export const RESOURCE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** Past-tense PascalCase event type, also one subject token. */
export const EVENT_TYPE_PATTERN = /^[A-Z][A-Za-z0-9]{1,127}$/;

export const ResourceSchema = z
  .string()
  .regex(RESOURCE_PATTERN, 'must be 1-128 characters of letters, digits, "_" or "-", starting with a letter or digit');
export const EventTypeSchema = z.string().regex(EVENT_TYPE_PATTERN, 'must be PascalCase letters and digits');
export const EventIdSchema = z.uuid({ version: 'v7', message: 'must be a UUIDv7' });
export const UtcTimestampSchema = z.iso.datetime({ message: 'must be an ISO-8601 UTC timestamp ending in Z' });
export const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters (SHA-256)');

/** Every event, whatever its type: the facts about the fact. `data` is checked per (type, version). */
export const EnvelopeSchema = z.object({
  id: EventIdSchema,
  type: EventTypeSchema,
  version: z.int().min(1),
  source: z.string().min(1).max(128),
  resource: ResourceSchema,
  occurredAt: UtcTimestampSchema,
  correlationId: z.uuid(),
  causationId: z.uuid().nullable(),
  data: z.unknown(),
});

export type Envelope<TType extends string = string, TData = unknown> = Omit<
  z.infer<typeof EnvelopeSchema>,
  'type' | 'data'
> & { type: TType; data: TData };
