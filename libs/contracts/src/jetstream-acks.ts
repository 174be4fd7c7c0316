import { createInbox, errors as natsErrors, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError, JetStreamError, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import { jserrors } from '@nats-io/jetstream/internal';

interface InFlight {
  resolve: (ack: PubAck) => void;
  reject: (error: unknown) => void;
  /** `Date.now()` after which it fails with a `TimeoutError`. */
  deadline: number;
  subject: string;
}

/** How often publishes in flight are checked for their deadline (their timeouts are this coarse). */
const SWEEP_MS = 50;
const decoder = new TextDecoder();
const byConnection = new WeakMap<NatsConnection, JetStreamAcks>();

/**
 * JetStream publishes whose acks come back on one reply subscription per connection, each matched
 * to its publish by its reply subject, with one timer checking the deadlines of all in flight.
 *
 * `JetStreamClient.publish` answers the same way (a request whose reply is the PubAck), but
 * through the client's generic request machinery: per publish a request object, a timer, an
 * `Error` built for its stack and thrown away, two async frames and a copy of the options. That
 * costs more CPU than everything else the typed publisher does per event (decision 0036). The
 * semantics are the client's: resolves with the PubAck once the stream has stored the message;
 * rejects with `JetStreamNotEnabled` when no stream takes the subject (no responders),
 * `JetStreamApiError` when the stream refuses it, `TimeoutError` when no ack came in time (the
 * message may still have been stored: publish it again with the same id, JetStream drops the
 * duplicate), and with the subscription's error when the connection closes or refuses it.
 */
export class JetStreamAcks {
  /** The one for `nc`'s connection, made on first use (its subscription lives as long as it does). */
  static of(nc: NatsConnection): JetStreamAcks {
    let acks = byConnection.get(nc);
    if (!acks || acks.closed) byConnection.set(nc, (acks = new JetStreamAcks(nc)));
    return acks;
  }

  /** `js`'s connection, when it is the NATS client's own JetStream client (which has one). */
  static connectionOf(js: JetStreamClient): NatsConnection | undefined {
    const nc = (js as JetStreamClient & { nc?: unknown }).nc as NatsConnection | undefined;
    return typeof nc?.subscribe === 'function' && typeof nc.publish === 'function' ? nc : undefined;
  }

  private readonly prefix: string;
  private next = 0;
  private readonly inFlight = new Map<string, InFlight>();
  private sweeper?: NodeJS.Timeout;
  private closed = false;

  private constructor(private readonly nc: NatsConnection) {
    // The connection's own inbox prefix: what its NATS permissions let it subscribe to.
    const inboxPrefix = (nc as NatsConnection & { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
    this.prefix = `${createInbox(inboxPrefix)}.`;
    const subscription = nc.subscribe(`${this.prefix}*`, { callback: (error, msg) => this.onReply(error, msg) });
    void subscription.closed.then(
      () => this.close(new natsErrors.ClosedConnectionError()),
      (error: unknown) => this.close(error),
    );
    void this.watchRefusals();
  }


  /**
   * A publish the connection's permissions refuse gets no reply: the server says so in an error
   * that names the subject, one per refused publish, in order. As the client does, the oldest
   * publish in flight to that subject fails with it (a `RequestError` caused by it).
   */
  private async watchRefusals() {
    for await (const status of this.nc.status()) {
      if (this.closed) break; // a successor watches now
      const error = (status as { type: string; error?: unknown }).error;
      if (status.type !== 'error' || !(error instanceof natsErrors.PermissionViolationError) || error.operation !== 'publish') continue;
      for (const [reply, waiting] of this.inFlight) {
        if (waiting.subject !== error.subject) continue;
        this.inFlight.delete(reply);
        waiting.reject(new natsErrors.RequestError(error.message, { cause: error }));
        break;
      }
    }
  }

  /** Publishes `payload` on `subject` and resolves with JetStream's ack. */
  publish(subject: string, payload: Uint8Array, headers: MsgHdrs, timeoutMs: number): Promise<PubAck> {
    const reply = `${this.prefix}${this.next++}`;
    return new Promise<PubAck>((resolve, reject) => {
      this.inFlight.set(reply, { resolve, reject, deadline: Date.now() + timeoutMs, subject });
      try {
        this.nc.publish(subject, payload, { reply, headers });
      } catch (error) {
        this.inFlight.delete(reply);
        reject(error);
        return;
      }
      this.sweeper ??= setInterval(this.sweep, SWEEP_MS);
    });
  }

  private onReply(error: Error | null, msg: Msg) {
    if (error) return this.close(error);
    const waiting = this.inFlight.get(msg.subject);
    if (!waiting) return; // answered after its deadline
    this.inFlight.delete(msg.subject);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      // As the client: nothing listens on the subject, so no stream captures it.
      return waiting.reject(new jserrors.JetStreamNotEnabled('jetstream is not enabled', { cause: new natsErrors.NoRespondersError(waiting.subject) }));
    }
    let answer: Partial<PubAck> & { error?: ConstructorParameters<typeof JetStreamApiError>[0] };
    try {
      answer = JSON.parse(decoder.decode(msg.data));
    } catch (parseError) {
      return waiting.reject(parseError);
    }
    if (answer.error) {
      const apiError = new JetStreamApiError(answer.error);
      return waiting.reject(
        answer.error.err_code === JetStreamApiCodes.JetStreamNotEnabledForAccount ? new jserrors.JetStreamNotEnabled(apiError.message, { cause: apiError }) : apiError,
      );
    }
    if (!answer.stream || typeof answer.seq !== 'number') return waiting.reject(new JetStreamError('invalid ack response'));
    waiting.resolve({ stream: answer.stream, seq: answer.seq, duplicate: answer.duplicate === true, domain: answer.domain } as PubAck);
  }

  private readonly sweep = () => {
    const now = Date.now();
    for (const [reply, waiting] of this.inFlight) {
      if (waiting.deadline > now) continue;
      this.inFlight.delete(reply);
      waiting.reject(new natsErrors.TimeoutError());
    }
    if (this.inFlight.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  };

  /** The subscription ended (connection closed or drained, or refused): what waits on it fails. */
  private close(error: unknown) {
    this.closed = true;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const waiting of this.inFlight.values()) waiting.reject(error);
    this.inFlight.clear();
  }
}
