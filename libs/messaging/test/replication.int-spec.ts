import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { isolatedTopology } from '@continuity/contracts';
import { testRunId } from '@continuity/contracts/testing';
import { ensureKvBucket, ensureObjectStore, ensureTopology, removeTopology, ReplicationLog } from '../src/index.js';
import { connectTestNats } from '../src/testing.js';

/** The machine's NATS is one server: what a replica count above 1 does there (the cluster test covers the rest). */
describe('replicas from configuration (one NATS server)', () => {
  let nc: NatsConnection;
  const warnings: string[] = [];
  const log: ReplicationLog = { log: () => undefined, warn: (message) => warnings.push(message) };
  const streams: string[] = [];

  beforeAll(async () => {
    nc = await connectTestNats();
  });
  afterAll(async () => {
    const jsm = await jetstreamManager(nc);
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
  });
  beforeEach(() => warnings.splice(0));

  it('creates the event and dead-letter streams with the configured replicas', async () => {
    const topology = isolatedTopology(testRunId('rep'));
    try {
      const jsm = await ensureTopology(nc, topology, { replicas: 1 }, log);
      expect((await jsm.streams.info(topology.eventStream)).config.num_replicas).toBe(1);
      expect((await jsm.streams.info(topology.deadLetterStream)).config.num_replicas).toBe(1);
    } finally {
      await removeTopology(nc, topology);
    }
  });

  it('refuses to create a stream with more replicas than servers, saying what NATS_REPLICAS needs', async () => {
    const topology = isolatedTopology(testRunId('rep'));
    try {
      await expect(ensureTopology(nc, topology, { replicas: 3 }, log)).rejects.toThrow(
        new RegExp(`cannot create stream ${topology.eventStream} with 3 replica\\(s\\): .*NATS_REPLICAS=3 needs a JetStream cluster of at least 3 servers`),
      );
    } finally {
      await removeTopology(nc, topology);
    }
  });

  it('keeps an existing stream running with the replicas it has when JetStream refuses more, and says so', async () => {
    const topology = isolatedTopology(testRunId('rep'));
    try {
      await ensureTopology(nc, topology, { replicas: 1 }, log);
      const jsm = await ensureTopology(nc, topology, { replicas: 3, maxAgeMs: 600_000 }, log);
      expect(warnings).toContainEqual(expect.stringMatching(new RegExp(`stream ${topology.eventStream} keeps 1 replica\\(s\\), not 3: this NATS server is not part of a JetStream cluster. NATS_REPLICAS=3 needs`)));
      const info = await jsm.streams.info(topology.eventStream);
      expect(info.config.num_replicas).toBe(1);
      // The other drifted setting is still applied.
      expect(info.config.max_age).toBe(600_000 * 1e6);
    } finally {
      await removeTopology(nc, topology);
    }
  });

  it('creates KV buckets and object stores with the configured replicas and storage', async () => {
    const bucket = testRunId('rep');
    streams.push(`KV_${bucket}`, `OBJ_${bucket}`);
    const kv = await ensureKvBucket(nc, bucket, { replicas: 1, storage: StorageType.File, history: 1 }, log);
    await kv.put('k', 'v');
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(`KV_${bucket}`)).config).toMatchObject({ num_replicas: 1, storage: StorageType.File });
    const store = await ensureObjectStore(nc, bucket, { replicas: 1 }, log);
    await store.putBlob({ name: 'x' }, new Uint8Array([1, 2, 3]));
    expect((await jsm.streams.info(`OBJ_${bucket}`)).config.num_replicas).toBe(1);
    expect(warnings).toEqual([]);
  });

  it('says so when an existing bucket has a storage JetStream cannot change (a memory lease bucket)', async () => {
    const bucket = testRunId('rep');
    streams.push(`KV_${bucket}`);
    await new Kvm(nc).create(bucket, { storage: StorageType.Memory, ttl: 5_000 });
    const kv = await ensureKvBucket(nc, bucket, { replicas: 1, storage: StorageType.File, ttl: 5_000 }, log);
    expect(await kv.create('lease', 'me')).toBeGreaterThan(0);
    expect(warnings).toContainEqual(expect.stringMatching(new RegExp(`stream KV_${bucket} has memory storage, not file: .*delete the stream`)));
  });

  it('refuses to create a bucket with more replicas than servers, naming the bucket', async () => {
    const bucket = testRunId('rep');
    streams.push(`KV_${bucket}`);
    await expect(ensureKvBucket(nc, bucket, { replicas: 3 }, log)).rejects.toThrow(new RegExp(`cannot create KV bucket ${bucket} with 3 replica\\(s\\)`));
  });
});
