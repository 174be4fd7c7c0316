import { nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  jetstreamManager,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  type StreamConfig,
  StorageType,
  DiscardPolicy,
} from '@nats-io/jetstream';
import { allDeadLettersSubject, allEventsSubject, allReplaysSubject, replayStreamOf, Topology } from '@continuity/contracts';

export interface StreamOptions {
  /** JetStream drops a second message with the same `Nats-Msg-Id` inside this window. */
  duplicateWindowMs?: number;
  /** 0 keeps events forever (the default: the audit log is rebuilt from them). */
  maxAgeMs?: number;
}

const STREAM_NOT_FOUND = 10059;

/**
 * Creates the event stream, the dead-letter stream and the replay stream if missing, or brings their settings up to
 * date; safe to call from every service at every start. Event history is immutable: messages can
 * be neither deleted nor purged.
 */
export const ensureTopology = async (
  nc: NatsConnection,
  topology: Topology,
  options: StreamOptions = {},
): Promise<JetStreamManager> => {
  const jsm = await jetstreamManager(nc);
  const duplicateWindow = nanos(options.duplicateWindowMs ?? 120_000);
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
  });
  await ensureStream(jsm, {
    name: topology.deadLetterStream,
    subjects: [allDeadLettersSubject(topology)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: duplicateWindow,
    deny_delete: false,
    deny_purge: false,
  });
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
  });
  return jsm;
};

const ensureStream = async (jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }) => {
  try {
    const info = await jsm.streams.info(config.name);
    const current = info.config;
    const drifted = (Object.keys(config) as (keyof StreamConfig)[]).some(
      (key) => JSON.stringify(current[key]) !== JSON.stringify(config[key]),
    );
    // deny_delete/deny_purge cannot be relaxed on an existing stream; everything else we own can be updated.
    if (drifted) await jsm.streams.update(config.name, { ...config, deny_delete: current.deny_delete, deny_purge: current.deny_purge });
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === STREAM_NOT_FOUND) {
      await jsm.streams.add(config);
      return;
    }
    throw error;
  }
};

/** Removes a test run's streams (never call it on the production topology). */
export const removeTopology = async (nc: NatsConnection, topology: Topology) => {
  const jsm = await jetstreamManager(nc);
  for (const name of [topology.eventStream, topology.deadLetterStream, replayStreamOf(topology)]) {
    await jsm.streams.delete(name).catch(() => undefined);
  }
};
