import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager, RetentionPolicy, StorageType, DiscardPolicy } from '@nats-io/jetstream';
import { allDeadLettersSubject, allEventsSubject, allReplaysSubject, replayStreamOf, Topology } from '@continuity/contracts';
import { DEFAULT_REPLICAS, ensureStream, ReplicationLog } from './replication.js';

export interface StreamOptions {
  /** JetStream drops a second message with the same `Nats-Msg-Id` inside this window. */
  duplicateWindowMs?: number;
  /** 0 keeps events forever (the default: the audit log is rebuilt from them). */
  maxAgeMs?: number;
  /** `NATS_REPLICAS`: servers holding each stream (1 on one server, 3 or 5 in a cluster). */
  replicas?: number;
}

/**
 * Creates the event stream, the dead-letter stream and the replay stream if missing, or brings
 * their settings up to date (the replica count too, where JetStream allows it); safe to call from
 * every service at every start. Event history is immutable: messages can be neither deleted nor purged.
 */
export const ensureTopology = async (
  nc: NatsConnection,
  topology: Topology,
  options: StreamOptions = {},
  log?: ReplicationLog,
): Promise<JetStreamManager> => {
  const jsm = await jetstreamManager(nc);
  const duplicateWindow = nanos(options.duplicateWindowMs ?? 120_000);
  const num_replicas = options.replicas ?? DEFAULT_REPLICAS;
  await ensureStream(jsm, {
    name: topology.eventStream,
    subjects: [allEventsSubject(topology)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(options.maxAgeMs ?? 0),
    duplicate_window: duplicateWindow,
    deny_delete: true,
    deny_purge: true,
    allow_rollup_hdrs: false,
    num_replicas,
  }, log);
  await ensureStream(jsm, {
    name: topology.deadLetterStream,
    subjects: [allDeadLettersSubject(topology)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: duplicateWindow,
    deny_delete: false,
    deny_purge: false,
    num_replicas,
  }, log);
  // Replayed dead letters, each on `<ns>.replay.<consumer>.<dead-letter seq>`: the message a
  // consumer's `_replay` durable gets, and the record that the dead letter was replayed (by whom,
  // when), so nothing here is ever deleted either. Its dedupe window makes a repeated replay a no-op.
  await ensureStream(jsm, {
    name: replayStreamOf(topology),
    subjects: [allReplaysSubject(topology)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: duplicateWindow,
    deny_delete: true,
    deny_purge: true,
    num_replicas,
  }, log);
  return jsm;
};

/** Removes a test run's streams (never call it on the production topology). */
export const removeTopology = async (nc: NatsConnection, topology: Topology) => {
  const jsm = await jetstreamManager(nc);
  for (const name of [topology.eventStream, topology.deadLetterStream, replayStreamOf(topology)]) {
    await jsm.streams.delete(name).catch(() => undefined);
  }
};
