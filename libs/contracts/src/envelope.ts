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

/**
 * Length limits every event shares, in characters (strings) and items (arrays). Events are stored
 * forever and folded into reports, so no publisher may make one arbitrarily large: an event over a
 * limit is invalid, refused at publish and dead-lettered at consume. Generous for honest use.
 */
export const EVENT_LIMITS = {
  /** Names and identifiers: source, location, site, medium, method, policy, member, check. */
  name: 128,
  /** URIs, paths, subjects, PEM keys. */
  uri: 2_048,
  /** Free text: reasons, errors, details (4 KiB of ASCII). */
  text: 4_096,
  /** Copies of one backup (3-2-1 needs 3). */
  copies: 32,
  /** Reasons, checks, recipients, cleanups: lists a human reads. */
  list: 100,
} as const;

/** A non-empty name or identifier of at most EVENT_LIMITS.name characters. */
export const NameSchema = z.string().min(1).max(EVENT_LIMITS.name);
/** A non-empty URI, path or subject of at most EVENT_LIMITS.uri characters. */
export const UriSchema = z.string().min(1).max(EVENT_LIMITS.uri);
/** Free text of at most EVENT_LIMITS.text characters. */
export const TextSchema = z.string().max(EVENT_LIMITS.text);
/** A list of at most `max` items (EVENT_LIMITS.list by default). */
export const boundedArray = <T extends z.ZodType>(item: T, max: number = EVENT_LIMITS.list) => z.array(item).max(max);

/** Every event, whatever its type: the facts about the fact. `data` is checked per (type, version). */
export const EnvelopeSchema = z.object({
  id: EventIdSchema,
  type: EventTypeSchema,
  version: z.int().min(1),
  source: NameSchema,
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
