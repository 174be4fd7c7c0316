import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager, RetentionPolicy, StorageType, DiscardPolicy } from '@nats-io/jetstream';
import { allDeadLettersSubject, allEventsSubject, allReplaysSubject, replayStreamOf, Topology } from '@continuity/contracts';
import { DEFAULT_REPLICAS, ensureStream, ReplicationLog } from './replication.js';

/**
 * Largest message the event stream stores (1 MiB, NATS's default max_payload): a bigger publish is
 * refused by the server, so a bigger event never enters history. The event stream has no byte or
 * message limit: it must never drop history.
 */
export const EVENT_MAX_MSG_SIZE = 1_048_576;
/**
 * The dead-letter stream's size: generous, and full means refused (discard new), never an old dead
 * letter dropped; a consumer that cannot dead-letter keeps the message and retries.
 */
export const DEAD_LETTER_MAX_BYTES = 1_073_741_824;
/** A dead letter holds the original message plus its headers and reason. */
export const DEAD_LETTER_MAX_MSG_SIZE = 2 * EVENT_MAX_MSG_SIZE;

export interface StreamOptions {
  /** JetStream drops a second message with the same `Nats-Msg-Id` inside this window. */
  duplicateWindowMs?: number;
  /** 0 keeps events forever (the default: the audit log is rebuilt from them). */
  maxAgeMs?: number;
  /** `NATS_REPLICAS`: servers holding each stream (1 on one server, 3 or 5 in a cluster). */
  replicas?: number;
  /** Bytes the dead-letter stream may hold (DEAD_LETTER_MAX_BYTES by default). */
  deadLetterMaxBytes?: number;
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
    max_msg_size: EVENT_MAX_MSG_SIZE,
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
    max_bytes: options.deadLetterMaxBytes ?? DEAD_LETTER_MAX_BYTES,
    max_msg_size: DEAD_LETTER_MAX_MSG_SIZE,
    discard: DiscardPolicy.New,
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

/** How full the dead-letter stream is (0…1 of its max_bytes): readiness warns when it nears 1. */
export const deadLetterFill = async (jsm: JetStreamManager, topology: Topology): Promise<{ bytes: number; maxBytes: number; fill: number }> => {
  const info = await jsm.streams.info(topology.deadLetterStream);
  const maxBytes = info.config.max_bytes > 0 ? info.config.max_bytes : Number.POSITIVE_INFINITY;
  return { bytes: info.state.bytes, maxBytes, fill: info.state.bytes / maxBytes };
};

/** Removes a test run's streams (never call it on the production topology). */
export const removeTopology = async (nc: NatsConnection, topology: Topology) => {
  const jsm = await jetstreamManager(nc);
  for (const name of [topology.eventStream, topology.deadLetterStream, replayStreamOf(topology)]) {
    await jsm.streams.delete(name).catch(() => undefined);
  }
};
