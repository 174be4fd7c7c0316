import type { Logger } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, JetStreamApiError, type JetStreamManager, type StreamConfig, StorageType } from '@nats-io/jetstream';
import { Kvm, type KV, type KvOptions } from '@nats-io/kv';
import { Objm, type ObjectStore, type ObjectStoreOptions } from '@nats-io/obj';

/**
 * Every stream, KV bucket and object store Continuity creates takes its replica count from here
 * (`NATS_REPLICAS`): 1 on a single server, 3 (or 5) in a cluster, where a stream survives the loss
 * of a minority of its servers. A site never writes its own number.
 */
export const DEFAULT_REPLICAS = 1;
/** JetStream's own ceiling for a stream's replicas. */
export const MAX_REPLICAS = 5;

export interface ReplicationLog {
  log(message: string): void;
  warn(message: string): void;
}

/**
 * Nest's logger (in a service, its JSON log), loaded only when there is something to say: this
 * file is reached by processes that are no Nest application (the CLI), which must not pay for
 * loading Nest on every start.
 */
const defaultLog = (): ReplicationLog => {
  let logger: Logger | undefined;
  const nest = () => (logger ??= new (require('@nestjs/common') as typeof import('@nestjs/common')).Logger('JetStream'));
  return { log: (message) => nest().log(message), warn: (message) => nest().warn(message) };
};

const STREAM_NOT_FOUND = 10059;

const describeError = (error: unknown) =>
  error instanceof JetStreamApiError ? `${error.message} (JetStream error ${error.code})` : (error as Error)?.message ?? String(error);

/** Why a replica count could not be had, with what to do about it. */
const replicaHint = (replicas: number) =>
  replicas > 1 ? ` NATS_REPLICAS=${replicas} needs a JetStream cluster of at least ${replicas} servers; set NATS_REPLICAS=1 for a single server.` : '';

/**
 * Creates the stream if missing, else brings the settings we own up to date when they drifted.
 * The replica count is updated too where JetStream allows it (a cluster with enough servers); when
 * it refuses, the stream keeps running with the replicas it has and a warning says so, rather than
 * the service refusing to start over it.
 */
export const ensureStream = async (
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string; num_replicas: number },
  log: ReplicationLog = defaultLog(),
): Promise<void> => {
  let current: StreamConfig;
  let clustered: boolean;
  try {
    const info = await jsm.streams.info(config.name);
    current = info.config;
    // Only a clustered server reports where a stream lives.
    clustered = info.cluster !== undefined;
  } catch (error) {
    if (!(error instanceof JetStreamApiError) || error.code !== STREAM_NOT_FOUND) throw error;
    try {
      await jsm.streams.add(config);
    } catch (addError) {
      throw new Error(`cannot create stream ${config.name} with ${config.num_replicas} replica(s): ${describeError(addError)}.${replicaHint(config.num_replicas)}`, { cause: addError });
    }
    return;
  }
  const drifted = (Object.keys(config) as (keyof StreamConfig)[]).filter((key) => JSON.stringify(current[key]) !== JSON.stringify(config[key]));
  if (drifted.includes('storage')) {
    log.warn(`stream ${config.name} has ${current.storage} storage, not ${config.storage}: JetStream cannot change a stream's storage; delete the stream to have it recreated with ${config.storage} storage`);
  }
  let updatable = drifted.filter((key) => key !== 'storage');
  // A single server accepts a replica count it cannot honour on update (NATS 2.9 stores it and keeps
  // one copy): never pretend, keep the stream as it is.
  if (updatable.includes('num_replicas') && config.num_replicas > 1 && !clustered) {
    log.warn(`stream ${config.name} keeps ${current.num_replicas} replica(s), not ${config.num_replicas}: this NATS server is not part of a JetStream cluster.${replicaHint(config.num_replicas)}`);
    updatable = updatable.filter((key) => key !== 'num_replicas');
    config = { ...config, num_replicas: current.num_replicas };
  }
  if (updatable.length === 0) return;
  // deny_delete/deny_purge cannot be relaxed on an existing stream; storage cannot change at all.
  const update = { ...config, deny_delete: current.deny_delete, deny_purge: current.deny_purge, storage: current.storage };
  try {
    await jsm.streams.update(config.name, update);
    if (updatable.includes('num_replicas')) log.log(`stream ${config.name}: replicas ${current.num_replicas} → ${config.num_replicas}`);
  } catch (error) {
    if (!updatable.includes('num_replicas')) throw error;
    // Perhaps only the replica change was refused (e.g. a single server): apply the rest without it
    // (an error here is about another setting, and stops the start as before).
    if (updatable.length > 1) await jsm.streams.update(config.name, { ...update, num_replicas: current.num_replicas });
    log.warn(`stream ${config.name} keeps ${current.num_replicas} replica(s), not ${config.num_replicas}: ${describeError(error)}.${replicaHint(config.num_replicas)}`);
  }
};

/** As `ensureStream` for a stream the nats.js KV/object-store libraries created: replicas and storage only. */
const reconcileBackingStream = async (nc: NatsConnection, stream: string, wanted: { num_replicas: number; storage?: StorageType }, log: ReplicationLog) =>
  ensureStream(await jetstreamManager(nc), { name: stream, ...wanted }, log);

export interface KvBucketOptions extends Partial<Omit<KvOptions, 'replicas'>> {
  replicas: number;
}

/**
 * Opens the KV bucket, creating it with `replicas` (and the given storage) if missing; an existing
 * bucket is reconciled to that replica count where JetStream allows it (its other settings, such as
 * a lease bucket's TTL, stay as they were created: everyone honours the same ones).
 */
export const ensureKvBucket = async (nc: NatsConnection, bucket: string, options: KvBucketOptions, log: ReplicationLog = defaultLog()): Promise<KV> => {
  let kv: KV;
  const { replicas, storage } = options;
  try {
    kv = await new Kvm(nc).create(bucket, { ...options });
  } catch (error) {
    throw new Error(`cannot create KV bucket ${bucket} with ${options.replicas} replica(s): ${describeError(error)}.${replicaHint(options.replicas)}`, { cause: error });
  }
  await reconcileBackingStream(nc, `KV_${bucket}`, { num_replicas: replicas, ...(storage ? { storage: storage as StorageType } : {}) }, log);
  return kv;
};

export interface ObjectStoreBucketOptions extends Partial<Omit<ObjectStoreOptions, 'replicas'>> {
  replicas: number;
}

/** As `ensureKvBucket`, for an object store bucket. */
export const ensureObjectStore = async (
  nc: NatsConnection,
  bucket: string,
  options: ObjectStoreBucketOptions,
  log: ReplicationLog = defaultLog(),
): Promise<ObjectStore> => {
  let store: ObjectStore;
  // Read before `create`, which may rewrite the options object it is given.
  const { replicas, storage } = options;
  try {
    store = await new Objm(nc).create(bucket, { ...options });
  } catch (error) {
    throw new Error(`cannot create object store ${bucket} with ${options.replicas} replica(s): ${describeError(error)}.${replicaHint(options.replicas)}`, { cause: error });
  }
  await reconcileBackingStream(nc, `OBJ_${bucket}`, { num_replicas: replicas, ...(storage ? { storage } : {}) }, log);
  return store;
};
