import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { failoverBucketName, parseRouteRecord, RouteRecord, routeKey } from './route-record.js';

export interface WatchPrimaryOptions {
  /** `CONTINUITY_NAMESPACE` of the failover service; default `continuity`. */
  namespace?: string;
  /** Stops the watch (the iterator then ends). */
  signal?: AbortSignal;
}

export interface PrimaryWatch extends AsyncIterableIterator<RouteRecord> {
  /** Ends the watch; a pending `next()` resolves `done`. */
  stop(): void;
}

/**
 * The current primary of `resource` and then every change, from the route record the failover
 * service keeps in JetStream KV:
 *
 * ```ts
 * for await (const route of watchPrimary(nc, 'orders-db')) pool.repoint(route.url);
 * ```
 *
 * Yields the stored record first (if there is one), then each new one. A record whose epoch is
 * lower than the last one yielded is skipped (fencing: an old primary is never handed out again);
 * deletions and records that do not parse are skipped too. Resolves nothing until a route exists.
 * The bucket must exist (the failover service creates it at start-up); otherwise the first
 * `next()` rejects.
 */
export const watchPrimary = (nc: NatsConnection, resource: string, options: WatchPrimaryOptions = {}): PrimaryWatch => {
  let stopped = false;
  let watch: Awaited<ReturnType<KV['watch']>> | null = null;
  const stop = () => {
    stopped = true;
    watch?.stop();
  };
  options.signal?.addEventListener('abort', stop, { once: true });

  async function* routes(): AsyncGenerator<RouteRecord> {
    // Bind only: the failover service creates the bucket; a client never creates it with other settings.
    const kv = await new Kvm(nc).open(failoverBucketName(options.namespace));
    if (stopped) return;
    watch = await kv.watch({ key: routeKey(resource) });
    if (stopped) watch.stop();
    let epoch = -1;
    try {
      for await (const entry of watch) {
        if (entry.operation !== 'PUT') continue;
        const route = parseRouteRecord(entry.value);
        if (!route || route.resource !== resource || route.epoch < epoch) continue;
        epoch = route.epoch;
        yield route;
      }
    } finally {
      watch.stop();
    }
  }

  const iterator = routes();
  return Object.assign(iterator, { stop }) as PrimaryWatch;
};

/** The route record of `resource` now, or null when there is none yet. */
export const currentPrimary = async (nc: NatsConnection, resource: string, options: Pick<WatchPrimaryOptions, 'namespace'> = {}): Promise<RouteRecord | null> => {
  const kv = await new Kvm(nc).open(failoverBucketName(options.namespace));
  const entry = await kv.get(routeKey(resource));
  return entry && entry.operation === 'PUT' ? parseRouteRecord(entry.value) : null;
};
