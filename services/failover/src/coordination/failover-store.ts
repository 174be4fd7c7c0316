import type { KV } from '@nats-io/kv';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { DEFAULT_REPLICAS, ensureKvBucket } from '@continuity/messaging';
import type { FenceCommandOutcome } from '@continuity/contracts';
import { failoverBucketName, leaseBucketName, parseRouteRecord, RouteRecord, routeKey, epochKey } from '@continuity/contracts';
import { decodeJson, encodeJson, isCasConflict } from './kv-errors.js';

/**
 * The fencing token of a resource: `epochs.<resource>`. Taken (compare-and-set from the epoch the
 * leader knows to the next) *before* a promotion, so two leaders can never both promote for the
 * same epoch; it records the intent so a leader that takes over mid-failover can finish it.
 */
export interface EpochRecord {
  resource: string;
  epoch: number;
  from: string;
  to: string;
  planned: boolean;
  /** Also the id of its FailoverTriggered event. */
  failoverId: string;
  takenAt: string;
  takenBy: string;
  /**
   * The failed primary's fence command for this epoch: recorded as started before it runs and
   * with its outcome once it ended, so it runs at most once per epoch and a successor leader knows.
   */
  fence?: { member: string; startedAt: string; outcome: FenceCommandOutcome | null };
}

/** `previous`: the record the epoch was taken over (the previous attempt's, when there was one). */
export type TakeEpochResult = { taken: true; revision: number; previous: EpochRecord | null } | { taken: false; current: EpochRecord | null };
export type WriteRouteResult = { written: true; revision: number } | { written: false; current: RouteRecord | null };

const MAX_CAS_RETRIES = 5;

/**
 * Both failover buckets: `<namespace>_failover` (routes and epochs; no TTL) and
 * `<namespace>_failover_leases` (leases; the bucket TTL is the lease TTL), both with file storage
 * (a lease must survive a NATS restart, or two leaders could follow one) and `NATS_REPLICAS`
 * replicas. Created idempotently at start-up (an existing bucket keeps its TTL).
 */
export class FailoverStore {
  private constructor(
    readonly kv: KV,
    readonly leases: KV,
    readonly leaseTtlMs: number,
    readonly namespace: string,
  ) {}

  static async open(nc: NatsConnection, namespace: string, leaseTtlMs: number, replicas = DEFAULT_REPLICAS): Promise<FailoverStore> {
    const kv = await ensureKvBucket(nc, failoverBucketName(namespace), { replicas, history: 10, storage: 'file', description: 'Continuity failover: routes.<resource>, epochs.<resource>' });
    const leases = await ensureKvBucket(nc, leaseBucketName(namespace), { replicas, history: 1, storage: 'file', ttl: leaseTtlMs, description: 'Continuity failover: leader leases (bucket TTL = lease TTL)' });
    // An existing bucket keeps the TTL it was created with: that is the lease everyone honours.
    const actualTtl = (await leases.status()).ttl || leaseTtlMs;
    return new FailoverStore(kv, leases, actualTtl, namespace);
  }

  /** Deletes both buckets (tests, benchmarks). */
  static async remove(nc: NatsConnection, namespace: string): Promise<void> {
    const jsm = await jetstreamManager(nc);
    for (const bucket of [failoverBucketName(namespace), leaseBucketName(namespace)]) {
      await jsm.streams.delete(`KV_${bucket}`).catch(() => undefined);
    }
  }

  async readRoute(resource: string): Promise<{ record: RouteRecord; revision: number } | null> {
    const entry = await this.kv.get(routeKey(resource));
    if (!entry || entry.operation !== 'PUT') return null;
    const record = parseRouteRecord(entry.value);
    return record ? { record, revision: entry.revision } : null;
  }

  async readEpoch(resource: string): Promise<{ record: EpochRecord; revision: number } | null> {
    const entry = await this.kv.get(epochKey(resource));
    if (!entry || entry.operation !== 'PUT') return null;
    const record = decodeJson<EpochRecord>(entry.value);
    return record ? { record, revision: entry.revision } : null;
  }

  /** Compare-and-set the epoch from `expected` to `next.epoch` (= expected + 1). */
  async takeEpoch(expected: number, next: EpochRecord): Promise<TakeEpochResult> {
    const key = epochKey(next.resource);
    const current = await this.readEpoch(next.resource);
    const currentEpoch = current?.record.epoch ?? 0;
    if (currentEpoch !== expected) return { taken: false, current: current?.record ?? null };
    try {
      const revision = current ? await this.kv.update(key, encodeJson(next), current.revision) : await this.kv.create(key, encodeJson(next));
      return { taken: true, revision, previous: current?.record ?? null };
    } catch (error) {
      if (!isCasConflict(error)) throw error;
      return { taken: false, current: (await this.readEpoch(next.resource))?.record ?? null };
    }
  }

  /** Rewrites the epoch record this leader took (same epoch) by compare-and-set: the new revision, or null when it moved. */
  async updateEpoch(record: EpochRecord, revision: number): Promise<number | null> {
    try {
      return await this.kv.update(epochKey(record.resource), encodeJson(record), revision);
    } catch (error) {
      if (!isCasConflict(error)) throw error;
      return null;
    }
  }

  /**
   * Writes the route by compare-and-set, never replacing a record of a higher epoch (nor one of
   * the same epoch with another primary). Retries on a concurrent write of a lower epoch.
   */
  async writeRoute(record: RouteRecord): Promise<WriteRouteResult> {
    const key = routeKey(record.resource);
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const current = await this.readRoute(record.resource);
      if (current && (current.record.epoch > record.epoch || (current.record.epoch === record.epoch && current.record.primary !== record.primary))) {
        return { written: false, current: current.record };
      }
      try {
        const revision = current ? await this.kv.update(key, encodeJson(record), current.revision) : await this.kv.create(key, encodeJson(record));
        return { written: true, revision };
      } catch (error) {
        if (!isCasConflict(error)) throw error;
      }
    }
    return { written: false, current: (await this.readRoute(record.resource))?.record ?? null };
  }

  /** Calls `onRoute` with the stored route and every change until the returned stop is called. */
  async watchRoute(resource: string, onRoute: (record: RouteRecord) => void): Promise<() => void> {
    const watch = await this.kv.watch({ key: routeKey(resource) });
    void (async () => {
      for await (const entry of watch) {
        if (entry.operation !== 'PUT') continue;
        const record = parseRouteRecord(entry.value);
        if (record) onRoute(record);
      }
    })().catch(() => undefined);
    return () => watch.stop();
  }
}
