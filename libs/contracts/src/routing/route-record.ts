import { z } from 'zod';

/**
 * Where clients find a resource's primary: the record `routes.<resource>` in the KV bucket
 * `<namespace>_failover` (`continuity_failover` in production). Written only by the failover
 * leader, by compare-and-set, with a fencing epoch that only grows: a client that sees a record
 * with a lower epoch than one it already saw must ignore it.
 *
 * Shared by the failover service (the only writer) and every client (`watchPrimary`).
 */

const Timestamp = z.iso.datetime({ message: 'must be an ISO-8601 UTC timestamp ending in Z' });

export const FencedMemberRecordSchema = z.object({
  member: z.string().min(1),
  /** The epoch in which it was primary. */
  formerEpoch: z.int().nonnegative(),
  cause: z.enum(['failover', 'switchover']),
  fencedAt: Timestamp,
});

export const RouteRecordSchema = z.object({
  resource: z.string().min(1),
  /** Member name of the primary. */
  primary: z.string().min(1),
  /** Its address without credentials, e.g. `postgres://app@10.0.0.6:5432/orders`: connect with your own. */
  url: z.string().min(1),
  host: z.string().min(1),
  port: z.int().min(1).max(65535),
  /** Fencing epoch: bumped by every failover or switchover. */
  epoch: z.int().nonnegative(),
  /** The failover that made this primary; null for the initial route. */
  failoverId: z.string().nullable(),
  updatedAt: Timestamp,
  /** The failover instance that wrote the record. */
  updatedBy: z.string().min(1),
  /** Former primaries that must never be used until rebuilt. */
  fenced: z.array(FencedMemberRecordSchema),
});

export type RouteRecord = z.infer<typeof RouteRecordSchema>;
export type FencedMemberRecord = z.infer<typeof FencedMemberRecordSchema>;

/** The KV bucket of routes and epochs for a namespace (`CONTINUITY_NAMESPACE`). */
export const failoverBucketName = (namespace = 'continuity') => `${namespace}_failover`;
/** The KV bucket of leader leases (its TTL is the lease's). */
export const leaseBucketName = (namespace = 'continuity') => `${namespace}_failover_leases`;

export const routeKey = (resource: string) => `routes.${resource}`;
export const epochKey = (resource: string) => `epochs.${resource}`;
export const leaseKey = (resource: string) => `leases.${resource}`;

/** Parses a stored record; null (not an exception) for one that is not a route, so a watcher keeps going. */
export const parseRouteRecord = (bytes: Uint8Array): RouteRecord | null => {
  try {
    const parsed = RouteRecordSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
};
