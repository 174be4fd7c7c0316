import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import type { JetStreamClient, JsMsg, StoredMsg } from '@nats-io/jetstream';
import { deadLetterSubject, Topology } from '@continuity/contracts';

/**
 * A dead letter keeps the original bytes as its body and the original headers, and adds these
 * headers saying why and from where, so it can be inspected or replayed as it was.
 */
export const DLQ_HEADERS = {
  reason: 'Continuity-Dlq-Reason',
  consumer: 'Continuity-Dlq-Consumer',
  subject: 'Continuity-Dlq-Subject',
  stream: 'Continuity-Dlq-Stream',
  streamSequence: 'Continuity-Dlq-Stream-Sequence',
  deliveryCount: 'Continuity-Dlq-Delivery-Count',
  deadLetteredAt: 'Continuity-Dlq-At',
  /** The original `Nats-Msg-Id` (the dead letter needs its own, for dedupe). */
  originalMsgId: 'Continuity-Dlq-Original-Msg-Id',
} as const;

export interface DeadLetter {
  reason: string;
  consumer: string;
  subject: string;
  stream: string;
  streamSequence: number;
  deliveryCount: number;
  deadLetteredAt: string;
  /** The original message body, byte for byte. */
  payload: Uint8Array;
  /** The original headers (trace context, Nats-Msg-Id, …). */
  headers: Record<string, string>;
}

// Header values are single lines; long reasons are cut so the record stays small.
const headerSafe = (text: string) => text.replace(/[\r\n]+/g, ' ').slice(0, 2000);

export const writeDeadLetter = async (
  js: JetStreamClient,
  topology: Topology,
  msg: JsMsg,
  consumer: string,
  reason: string,
  now = new Date(),
): Promise<void> => {
  const h = natsHeaders();
  if (msg.headers) for (const [key, values] of msg.headers) for (const value of values) h.append(key, value);
  if (h.has('Nats-Msg-Id')) h.set(DLQ_HEADERS.originalMsgId, h.get('Nats-Msg-Id'));
  h.delete('Nats-Msg-Id');
  h.set(DLQ_HEADERS.reason, headerSafe(reason));
  h.set(DLQ_HEADERS.consumer, consumer);
  h.set(DLQ_HEADERS.subject, msg.subject);
  h.set(DLQ_HEADERS.stream, msg.info.stream);
  h.set(DLQ_HEADERS.streamSequence, String(msg.seq));
  h.set(DLQ_HEADERS.deliveryCount, String(msg.info.deliveryCount));
  h.set(DLQ_HEADERS.deadLetteredAt, now.toISOString());
  // Dedupe: a crash between this publish and term() must not dead-letter the message twice.
  await js.publish(deadLetterSubject(consumer, topology), msg.data, {
    headers: h,
    msgID: `${msg.info.stream}:${msg.seq}:${consumer}`,
  });
};

/** Reads a stored dead letter back into its parts. */
export const readDeadLetter = (stored: Pick<StoredMsg, 'data' | 'header'>): DeadLetter => {
  const h: MsgHdrs = stored.header;
  const original: Record<string, string> = {};
  for (const [key, values] of h) if (!key.startsWith('Continuity-Dlq-')) original[key] = values.join(',');
  if (h.has(DLQ_HEADERS.originalMsgId)) original['Nats-Msg-Id'] = h.get(DLQ_HEADERS.originalMsgId);
  return {
    reason: h.get(DLQ_HEADERS.reason),
    consumer: h.get(DLQ_HEADERS.consumer),
    subject: h.get(DLQ_HEADERS.subject),
    stream: h.get(DLQ_HEADERS.stream),
    streamSequence: Number(h.get(DLQ_HEADERS.streamSequence)),
    deliveryCount: Number(h.get(DLQ_HEADERS.deliveryCount)),
    deadLetteredAt: h.get(DLQ_HEADERS.deadLetteredAt),
    payload: stored.data,
    headers: original,
  };
};

/**
 * Headers a replayed dead letter carries besides the original ones (see `DeadLetters.replay`): where
 * the event first came from, and who replayed it when. The replay message is also the record that
 * the dead letter was replayed.
 */
export const REPLAY_HEADERS = {
  /** Sequence of the dead letter in the dead-letter stream. */
  deadLetterSequence: 'Continuity-Replay-Dlq-Sequence',
  /** The subject and event-stream sequence the event was first delivered from. */
  subject: 'Continuity-Replay-Subject',
  streamSequence: 'Continuity-Replay-Stream-Sequence',
  by: 'Continuity-Replay-By',
  at: 'Continuity-Replay-At',
  /** 1 for the first replay of a dead letter, 2 for the first forced one, … */
  attempt: 'Continuity-Replay-Attempt',
  /** Id of the `DeadLetterReplayed` event recording it. */
  eventId: 'Continuity-Replay-Event-Id',
} as const;

/** Where a replayed message first came from; only trust it on messages read from the replay stream. */
export interface ReplayOrigin {
  subject: string;
  streamSequence: number;
  deadLetterSequence: number;
}

export const replayOriginOf = (h: MsgHdrs | undefined): ReplayOrigin | null => {
  if (!h?.has(REPLAY_HEADERS.subject)) return null;
  return {
    subject: h.get(REPLAY_HEADERS.subject),
    streamSequence: Number(h.get(REPLAY_HEADERS.streamSequence)),
    deadLetterSequence: Number(h.get(REPLAY_HEADERS.deadLetterSequence)),
  };
};
