import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, JetStreamApiError, jetstreamManager, type JetStreamClient, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { v7 as uuidv7 } from 'uuid';
import {
  allDeadLettersSubject,
  ContinuityEvent,
  ContinuityPublisher,
  deadLetterSubject,
  DomainError,
  Envelope,
  EnvelopeSchema,
  replayStreamOf,
  replaySubject,
  Topology,
} from '@continuity/contracts';
import { DeadLetter, readDeadLetter, REPLAY_HEADERS } from './dead-letter.js';

/** A dead letter as `list` shows it. */
export interface DeadLetterSummary {
  /** Its sequence in the dead-letter stream: what `show` and `replay` take. */
  sequence: number;
  consumer: string;
  reason: string;
  deliveryCount: number;
  /** Where the consumer got it from (the event stream, or the replay stream for a replay that failed again). */
  stream: string;
  streamSequence: number;
  subject: string;
  deadLetteredAt: string;
  /** The event, when the body is an envelope (it may be the malformed bytes that were dead-lettered). */
  event: { id: string; type: string; resource: string } | null;
  /** The last replay of this dead letter, if any. */
  replayed: { by: string; at: string; attempt: number; replaySequence: number } | null;
}

/** One dead letter whole: its original headers and body too. */
export interface DeadLetterDetail extends DeadLetterSummary {
  headers: Record<string, string>;
  /** The original bytes as UTF-8 text. */
  body: string;
}

export interface DeadLetterFilter {
  consumer?: string;
  /** Only dead letters written at or after this time. */
  since?: Date;
  /** The event id (or the original `Nats-Msg-Id`). */
  eventId?: string;
  /** Paging: the `next` of the previous page. */
  after?: number;
  /** At most this many (1–500, default 50). */
  limit?: number;
}

export interface DeadLetterPage {
  items: DeadLetterSummary[];
  /** Pass as `after` for the next page; null when the stream has been read to its end. */
  next: number | null;
}

export interface ReplayRequest {
  /** The operator asking: recorded in the replay and in `DeadLetterReplayed`. */
  by: string;
  /** Replay a dead letter that was replayed before. */
  force?: boolean;
}

export interface ReplayResult {
  deadLetterSequence: number;
  consumer: string;
  replaySequence: number;
  /** The `DeadLetterReplayed` event published for it. */
  recorded: ContinuityEvent<'DeadLetterReplayed'>;
}

export interface DeadLettersOptions {
  topology: Topology;
  /** Publishes `DeadLetterReplayed` (its `source` says who replayed: a service or the CLI). */
  publisher: ContinuityPublisher;
  now?: () => Date;
}

const STREAM_NOT_FOUND = 10059;
const CONSUMER_PATTERN = /^[A-Za-z0-9_-]{1,256}$/;
const MAX_LIMIT = 500;
/** A page reads at most this many stored messages, so a narrow filter over a long stream still answers promptly. */
const MAX_SCAN = 10_000;
const decoder = new TextDecoder();

export const invalidDeadLetterQuery = (message: string, path: string) =>
  new DomainError('DLQ.INVALID_QUERY', message, 400, {}, { issues: [{ path, message }] });

/** A dead-letter sequence from user input (a path segment, an argument): digits only. */
export const parseDeadLetterSequence = (value: unknown): number => {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^[1-9][0-9]{0,14}$/.test(text)) {
    throw invalidDeadLetterQuery('a dead-letter sequence is a positive whole number', 'seq');
  }
  return Number(text);
};

const envelopeOf = (payload: Uint8Array): Envelope | null => {
  try {
    const parsed = EnvelopeSchema.safeParse(JSON.parse(decoder.decode(payload)));
    return parsed.success ? (parsed.data as Envelope) : null;
  } catch {
    return null;
  }
};

/**
 * Lists, shows and replays dead letters (the operator's `continuity-dlq` and `/dlq` routes).
 *
 * Delivery guarantees: a replay republishes the original bytes and headers on
 * `<ns>.replay.<consumer>.<dead-letter seq>` in the replay stream, which only that consumer's
 * `<durable>_replay` twin reads: no other consumer of the event gets it again. The event keeps its
 * id (consumers are idempotent); the replay message's own `Nats-Msg-Id` is
 * `<event id>:replay:<dead-letter seq>[:<attempt>]`, so two operators replaying the same dead
 * letter at once store it once. Dead letters are never deleted or changed: the replay message is
 * the record that one was replayed, and a second replay needs `force`. Each replay is also
 * published as `DeadLetterReplayed` for the audit ledger.
 */
export class DeadLetters {
  private readonly js: JetStreamClient;
  private jsm?: Promise<JetStreamManager>;
  private readonly replayStream: string;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: DeadLettersOptions,
  ) {
    this.js = jetstream(nc);
    this.replayStream = replayStreamOf(options.topology);
  }

  private manager() {
    return (this.jsm ??= jetstreamManager(this.nc));
  }

  async list(filter: DeadLetterFilter = {}): Promise<DeadLetterPage> {
    const limit = filter.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw invalidDeadLetterQuery(`limit must be 1–${MAX_LIMIT}`, 'limit');
    if (filter.consumer !== undefined && !CONSUMER_PATTERN.test(filter.consumer)) {
      throw invalidDeadLetterQuery('consumer must be a durable consumer name (letters, digits, _ and -)', 'consumer');
    }
    if (filter.since && Number.isNaN(filter.since.getTime())) throw invalidDeadLetterQuery('since must be an ISO-8601 time', 'since');
    const subject = filter.consumer ? deadLetterSubject(filter.consumer, this.options.topology) : allDeadLettersSubject(this.options.topology);
    const items: DeadLetterSummary[] = [];
    let seq = (filter.after ?? 0) + 1;
    for (let scanned = 0; scanned < MAX_SCAN; scanned++) {
      // The first message on `subject` at or after `seq` (NATS 2.9 answers `next_by_subj`; the client's types omit it).
      const stored = await this.stored({ seq, next_by_subj: subject } as { seq: number });
      if (!stored) return { items, next: null };
      seq = stored.seq + 1;
      const letter = this.letterOf(stored);
      if (!letter || !this.matches(letter, filter)) continue;
      items.push(await this.summarize(stored.seq, letter));
      if (items.length === limit) return { items, next: stored.seq };
    }
    return { items, next: seq - 1 };
  }

  async show(sequence: number): Promise<DeadLetterDetail> {
    const { letter } = await this.find(sequence);
    return { ...(await this.summarize(sequence, letter)), headers: letter.headers, body: decoder.decode(letter.payload) };
  }

  async replay(sequence: number, request: ReplayRequest): Promise<ReplayResult> {
    if (!request.by || request.by.length > 128) throw invalidDeadLetterQuery('the operator replaying must be named (1–128 characters)', 'by');
    const { letter } = await this.find(sequence);
    const event = envelopeOf(letter.payload);
    if (!event) {
      throw new DomainError('DLQ.NOT_REPLAYABLE', `dead letter ${sequence} does not hold an event envelope (${letter.reason}): no consumer could ever handle it`, 422, {
        sequence,
      });
    }
    const previous = await this.lastReplay(letter.consumer, sequence);
    if (previous && !request.force) {
      // The replay may have been stored and its record lost (a crash between the two publishes):
      // record it again; the same event id makes that a no-op wherever it was already recorded.
      await this.record(sequence, letter, event, previous);
      throw this.alreadyReplayed(sequence, previous);
    }
    const attempt = (previous?.attempt ?? 0) + 1;
    const at = (this.options.now?.() ?? new Date()).toISOString();
    const eventId = uuidv7();
    const origin = this.originOf(letter);
    const h = natsHeaders();
    for (const [key, value] of Object.entries(letter.headers)) {
      if (key !== 'Nats-Msg-Id' && !key.startsWith('Continuity-Replay-')) h.set(key, value);
    }
    h.set(REPLAY_HEADERS.deadLetterSequence, String(sequence));
    h.set(REPLAY_HEADERS.subject, origin.subject);
    h.set(REPLAY_HEADERS.streamSequence, String(origin.streamSequence));
    h.set(REPLAY_HEADERS.by, request.by.replace(/[\r\n]+/g, ' '));
    h.set(REPLAY_HEADERS.at, at);
    h.set(REPLAY_HEADERS.attempt, String(attempt));
    h.set(REPLAY_HEADERS.eventId, eventId);
    const subject = replaySubject(letter.consumer, sequence, this.options.topology);
    let ack;
    try {
      ack = await this.js.publish(subject, letter.payload, {
        headers: h,
        msgID: attempt === 1 ? `${event.id}:replay:${sequence}` : `${event.id}:replay:${sequence}:${attempt}`,
      });
    } catch (error) {
      throw new DomainError(
        'DLQ.REPLAY_FAILED',
        `could not store the replay in stream ${this.replayStream} (${(error as Error).message}); services of this version create it when they start`,
        503,
        { sequence },
        { cause: error },
      );
    }
    // Someone replayed the same dead letter at the same moment: theirs was stored, not ours.
    if (ack.duplicate) throw this.alreadyReplayed(sequence, (await this.lastReplay(letter.consumer, sequence)) ?? { by: 'another operator', at });
    const recorded = await this.record(sequence, letter, event, { by: request.by, at, attempt, replaySequence: ack.seq, eventId });
    return { deadLetterSequence: sequence, consumer: letter.consumer, replaySequence: ack.seq, recorded };
  }

  /** The dead letter stored at `sequence`, or 404 when there is none (a gap, or a message that is not a dead letter). */
  private async find(sequence: number): Promise<{ letter: DeadLetter }> {
    const seq = parseDeadLetterSequence(sequence);
    const stored = await this.stored({ seq });
    const letter = stored && this.letterOf(stored);
    if (!letter) throw new DomainError('DLQ.NOT_FOUND', `no dead letter at sequence ${seq}`, 404, { sequence: seq });
    return { letter };
  }

  private async stored(query: { seq: number }): Promise<StoredMsg | null> {
    try {
      return await (await this.manager()).streams.getMessage(this.options.topology.deadLetterStream, query);
    } catch (error) {
      if (!(error instanceof JetStreamApiError) || error.code !== STREAM_NOT_FOUND) throw error;
      const stream = this.options.topology.deadLetterStream;
      throw new DomainError('DLQ.NO_STREAM', `there is no dead-letter stream ${stream} (no service has started in namespace ${this.options.topology.namespace})`, 503, { stream });
    }
  }

  /** Only what the transport wrote: the subject names the consumer its headers name. */
  private letterOf(stored: StoredMsg): DeadLetter | null {
    if (!stored.header) return null;
    const letter = readDeadLetter(stored);
    if (!CONSUMER_PATTERN.test(letter.consumer) || stored.subject !== deadLetterSubject(letter.consumer, this.options.topology)) return null;
    return letter;
  }

  private matches(letter: DeadLetter, filter: DeadLetterFilter): boolean {
    if (filter.since && !(Date.parse(letter.deadLetteredAt) >= filter.since.getTime())) return false;
    if (filter.eventId && letter.headers['Nats-Msg-Id'] !== filter.eventId && envelopeOf(letter.payload)?.id !== filter.eventId) return false;
    return true;
  }

  private async summarize(sequence: number, letter: DeadLetter): Promise<DeadLetterSummary> {
    const event = envelopeOf(letter.payload);
    const replay = await this.lastReplay(letter.consumer, sequence);
    return {
      sequence,
      consumer: letter.consumer,
      reason: letter.reason,
      deliveryCount: letter.deliveryCount,
      stream: letter.stream,
      streamSequence: letter.streamSequence,
      subject: letter.subject,
      deadLetteredAt: letter.deadLetteredAt,
      event: event && { id: event.id, type: event.type, resource: event.resource },
      replayed: replay && { by: replay.by, at: replay.at, attempt: replay.attempt, replaySequence: replay.replaySequence },
    };
  }

  /** A dead letter of a replay that failed again still names the event's first subject and sequence. */
  private originOf(letter: DeadLetter): { subject: string; streamSequence: number } {
    const h = letter.headers;
    if (letter.stream !== this.replayStream || !h[REPLAY_HEADERS.subject]) return { subject: letter.subject, streamSequence: letter.streamSequence };
    return { subject: h[REPLAY_HEADERS.subject]!, streamSequence: Number(h[REPLAY_HEADERS.streamSequence]) };
  }

  private async lastReplay(consumer: string, sequence: number) {
    const stored = await (await this.manager()).streams
      .getMessage(this.replayStream, { last_by_subj: replaySubject(consumer, sequence, this.options.topology) })
      .catch(() => null); // no replay stream yet: nothing was ever replayed
    if (!stored?.header) return null;
    const h = stored.header;
    return {
      by: h.get(REPLAY_HEADERS.by),
      at: h.get(REPLAY_HEADERS.at),
      attempt: Number(h.get(REPLAY_HEADERS.attempt)) || 1,
      replaySequence: stored.seq,
      eventId: h.get(REPLAY_HEADERS.eventId),
    };
  }

  private alreadyReplayed(sequence: number, previous: { by: string; at: string }) {
    return new DomainError(
      'DLQ.ALREADY_REPLAYED',
      `dead letter ${sequence} was already replayed by ${previous.by} at ${previous.at}; force a second replay only if the first did not help`,
      409,
      { sequence, replayedBy: previous.by, replayedAt: previous.at },
    );
  }

  private async record(
    sequence: number,
    letter: DeadLetter,
    event: Envelope,
    replay: { by: string; at: string; attempt: number; replaySequence: number; eventId: string },
  ): Promise<ContinuityEvent<'DeadLetterReplayed'>> {
    const origin = this.originOf(letter);
    const published = await this.options.publisher.publish('DeadLetterReplayed', {
      id: replay.eventId,
      resource: event.resource,
      occurredAt: replay.at,
      correlationId: event.correlationId,
      causationId: event.id,
      data: {
        consumer: letter.consumer,
        deadLetterStream: this.options.topology.deadLetterStream,
        deadLetterSequence: sequence,
        replaySequence: replay.replaySequence,
        original: { eventId: event.id, type: event.type, subject: origin.subject, streamSequence: origin.streamSequence },
        reason: letter.reason,
        deliveryCount: letter.deliveryCount,
        replayedBy: replay.by,
        replayedAt: replay.at,
        forced: replay.attempt > 1,
      },
    });
    return published.event;
  }
}
