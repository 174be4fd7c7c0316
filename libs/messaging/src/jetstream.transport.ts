import { CustomTransportStrategy, EventPattern, MessageHandler, Server } from '@nestjs/microservices';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  jetstream,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { type Attributes, context, isSpanContextValid, metrics, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { isObservable, lastValueFrom } from 'rxjs';
import Denque from 'denque';
import {
  continuityEvents,
  DEFAULT_TOPOLOGY,
  eventTypeFilter,
  EventRegistry,
  EventType,
  extractTraceContextOf,
  ParseOptions,
  replayFilter,
  replayStreamOf,
  Topology,
  checkProvenance,
  type ProvenancePolicy,
} from '@continuity/contracts';
import { replayOriginOf, writeDeadLetter } from './dead-letter.js';
import { deliveryOf } from './delivery.js';
import { JetStreamContext } from './jetstream.context.js';
import { decideBeforeHandling, decideOnFailure, DEFAULT_RETRY_POLICY, describeError, RetryPolicy, validateRetryPolicy } from './retry.policy.js';
import type { Dependency, Endpoints } from './failure.classifier.js';
import { Outage, Outages, Probe } from './outages.js';
import { ensureTopology, StreamOptions } from './topology.js';
import { connectNats, type NatsAuthOptions } from './nats-connect.js';

export interface JetStreamTransportOptions {
  /** Durable consumer names start with it: `<serviceName>_<EventType>`. */
  serviceName: string;
  /** NATS servers to connect to; or pass `connection` to share one (it is then not closed here). */
  servers?: string | string[];
  connection?: NatsConnection;
  /** Credentials and TLS of the connection this transport opens (`natsAuthOptions`). */
  auth?: NatsAuthOptions;
  /**
   * Who may publish what (`checkProvenance`): an event whose source may not publish its type, or
   * dated beyond the allowed skew into the future, is dead-lettered (permanent, with the reason)
   * instead of handled, unless the handler asks for every event (`provenance: 'record'`).
   * Without a policy every event is handled (tests of the transport itself).
   */
  provenance?: ProvenancePolicy;
  topology?: Topology;
  registry?: EventRegistry;
  retry?: Partial<RetryPolicy>;
  /** JetStream redelivers a message not acked (nor marked working) within this time. */
  ackWaitMs?: number;
  streams?: StreamOptions;
  /**
   * Direct checks of the dependencies handlers use (`postgres: () => pool.query('select 1')`): while
   * one is down, handlers wait for its probe to answer instead of retrying blindly.
   */
  probes?: Partial<Record<Dependency, Probe>>;
  probeIntervalMs?: number;
  /** Where those dependencies listen (`endpointsOf`), so a refused connection is blamed on the right one. */
  endpoints?: Endpoints;
}

/** Per-handler options, given as the second argument of `@OnEvent`. */
export interface EventHandlerOptions {
  /** Durable consumer name; defaults to `<serviceName>_<EventType>` (`_all` for `*`). */
  durable?: string;
  /** Messages handled at once by this handler (default 1: in stream order). */
  concurrency?: number;
  /** Overrides the transport's `retry.maxDeliver` for this handler. */
  maxDeliver?: number;
  /** Hand over well-formed events of types this build has no schema for (default: only for `*`). */
  acceptUnknownTypes?: boolean;
  /**
   * `enforce` (default): events from a source the provenance policy does not allow are
   * dead-lettered, not handed over. `record`: handed over all the same, for a handler that must see
   * everything (the audit ledger) and checks provenance itself.
   */
  provenance?: 'enforce' | 'record';
}

/**
 * Subscribes a Nest method to continuity events of one type (`'*'` for every type) through a
 * durable JetStream consumer. The method gets the validated, upcast event and a
 * `JetStreamContext`; the message is acked only once its returned promise resolves.
 */
export const OnEvent = (type: EventType | '*', options: EventHandlerOptions = {}): MethodDecorator =>
  EventPattern<string>(type, options as Record<string, unknown>);

interface Subscription {
  durable: string;
  /** Its second durable consumer, on the replay stream: dead letters replayed to this one alone. */
  replayDurable: string;
  pattern: string;
  handler: MessageHandler;
  options: Required<Pick<EventHandlerOptions, 'concurrency' | 'acceptUnknownTypes' | 'provenance'>> & { maxDeliver: number };
  parseOptions: ParseOptions;
  messages?: ConsumerMessages;
  replayMessages?: ConsumerMessages;
  /**
   * Delivered, not yet started (at most one pull batch), oldest first. A deque: `Array#shift` on a
   * few thousand waiting messages copied the whole array whenever V8 could not trim it in place
   * (as during incremental marking), ≈ 5 % of a busy consumer's CPU.
   */
  waiting: Denque<JsMsg>;
  /** One per handler slot in use (≤ concurrency): each runs messages one after another until none waits. */
  workers: Set<Promise<void>>;
  /** Messages whose handlers are running, told `working()` on one timer per subscription. */
  running: Set<JsMsg>;
  keepAlive?: NodeJS.Timeout;
  /** Metric attributes, made once rather than per message. */
  metricAttributes: { acked: Attributes; retried: Attributes; deadLettered: Attributes; consumer: Attributes };
}

const tracer = trace.getTracer('@continuity/messaging');
const decoder = new TextDecoder();

// Made per transport, not at import: OpenTelemetry has no proxy for meters, so instruments created
// before `startTelemetry` would stay no-ops forever.
const createInstruments = () => {
  const meter = metrics.getMeter('@continuity/messaging');
  return {
    handled: meter.createCounter('continuity_messages_handled', { description: 'messages handled, by outcome' }),
    handleDuration: meter.createHistogram('continuity_message_handle_duration', { description: 'handler time per message', unit: 'ms' }),
  };
};

/**
 * NestJS transport over JetStream: durable, at-least-once, dead-lettered delivery.
 *
 * Delivery guarantees: a message is acked only after its handler's work resolved. When the handler
 * throws, the failure is classified (`classifyFailure`):
 * - a dependency down (connection refused, timeout, PostgreSQL restarting, disk full): the message
 *   is kept here and tried again, without limit, after a capped, jittered back-off and once the
 *   dependency's probe answers; meanwhile no handler of this transport starts and readiness names
 *   the dependency (`outages()`). Nothing is dead-lettered for an outage, however long.
 * - permanent (an invalid event, data the database refuses): dead-lettered at once;
 * - unknown: nak'd with a growing delay and dead-lettered on its `maxDeliver`-th failure.
 * A message delivered more than `poisonDeliveries` times without an outcome (it crashed or stalled
 * the process) is dead-lettered before its handler runs again. A dead letter holds the original
 * bytes, headers and the reason, and the message is terminated only once it is stored. Handlers
 * must be idempotent: a crash between their commit and the ack redelivers the message.
 * Each durable consumer has a twin, `<durable>_replay`, on the replay stream: a dead letter an
 * operator replays (`DeadLetters.replay`) comes back through it to that consumer alone, with the
 * original event id, and is handled (and dead-lettered again) like any other message.
 */
export class JetStreamTransport extends Server implements CustomTransportStrategy {
  private nc?: NatsConnection;
  private js?: JetStreamClient;
  private jsm?: JetStreamManager;
  private readonly subscriptions: Subscription[] = [];
  private stopping = false;
  private readonly topology: Topology;
  private readonly replayStream: string;
  private readonly registry: EventRegistry;
  private readonly retry: RetryPolicy;
  private readonly ackWaitMs: number;
  private readonly instruments = createInstruments();
  private readonly outageLog: Outages;

  constructor(private readonly options: JetStreamTransportOptions) {
    super();
    this.topology = options.topology ?? DEFAULT_TOPOLOGY;
    this.replayStream = replayStreamOf(this.topology);
    this.registry = options.registry ?? continuityEvents;
    this.retry = validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...options.retry });
    this.ackWaitMs = options.ackWaitMs ?? 30_000;
    this.outageLog = new Outages({
      probes: options.probes,
      probeIntervalMs: options.probeIntervalMs,
      onChange: ({ dependency, state, outage }) => {
        if (state === 'down') this.logger.warn(`${dependency} is unavailable (${outage.reason}); handlers wait for it, nothing is dead-lettered for it`);
        else this.logger.log(`${dependency} is back after ${((Date.now() - Date.parse(outage.since)) / 1000).toFixed(1)} s (${outage.failures} failed attempts); handlers resume`);
      },
    });
  }

  /** Dependencies handlers found down and that have not answered since (for readiness). */
  outages(): Outage[] {
    return this.outageLog.current();
  }

  async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      await this.start();
      callback();
    } catch (error) {
      callback(error);
    }
  }

  private async start() {
    this.nc = this.options.connection ?? (await connectNats(this.options.servers ?? 'nats://127.0.0.1:4222', this.options.auth ?? {}, {
        name: this.options.serviceName,
        maxReconnectAttempts: -1,
      }));
    this.js = jetstream(this.nc);
    this.jsm = await ensureTopology(this.nc, this.topology, this.options.streams);
    for (const [pattern, handler] of this.getHandlers()) {
      if (!handler.isEventHandler) continue;
      const extras = (handler.extras ?? {}) as EventHandlerOptions;
      const suffix = pattern === '*' ? 'all' : pattern;
      const durable = extras.durable ?? `${this.options.serviceName}_${suffix}`.replace(/[^A-Za-z0-9_-]/g, '_');
      const acceptUnknownTypes = extras.acceptUnknownTypes ?? pattern === '*';
      const subscription: Subscription = {
        pattern,
        handler,
        durable,
        replayDurable: `${durable}_replay`,
        options: {
          concurrency: Math.max(1, extras.concurrency ?? 1),
          acceptUnknownTypes,
          provenance: extras.provenance ?? 'enforce',
          maxDeliver: extras.maxDeliver ?? this.retry.maxDeliver,
        },
        parseOptions: { allowUnknownTypes: acceptUnknownTypes },
        workers: new Set(),
        waiting: new Denque<JsMsg>(),
        running: new Set(),
        metricAttributes: {
          acked: { consumer: durable, outcome: 'acked' },
          retried: { consumer: durable, outcome: 'retried' },
          deadLettered: { consumer: durable, outcome: 'dead-lettered' },
          consumer: { consumer: durable },
        },
      };
      await this.ensureConsumer(this.topology.eventStream, subscription.durable, eventTypeFilter(pattern, this.topology), subscription.options.concurrency);
      await this.ensureConsumer(this.replayStream, subscription.replayDurable, replayFilter(durable, this.topology), 1);
      this.subscriptions.push(subscription);
    }
    for (const subscription of this.subscriptions) {
      const consumer = await this.js.consumers.get(this.topology.eventStream, subscription.durable);
      // The callback form: messages of one network read are handled (and their acks written) together.
      subscription.messages = await consumer.consume({
        max_messages: Math.max(256, subscription.options.concurrency * 2),
        // A pull request lost with its server (a cluster node killed, the consumer's leader moved) is
        // noticed by missed heartbeats, at twice expires/2: 10 s rather than the default 30 s.
        expires: 10_000,
        callback: (msg) => this.deliver(subscription, msg),
      });
      // Replays are rare: a small pull, through the same handler slots as the stream's messages.
      const replays = await this.js.consumers.get(this.replayStream, subscription.replayDurable);
      subscription.replayMessages = await replays.consume({ max_messages: 16, callback: (msg) => this.deliver(subscription, msg) });
      // Keep long handlers' messages from being redelivered mid-work.
      // While a dependency is down, messages waiting for a handler slot are held too (not redelivered).
      subscription.keepAlive = setInterval(() => {
        for (const msg of subscription.running) msg.working();
        if (this.outageLog.isBlocked()) for (let i = 0; i < subscription.waiting.length; i++) subscription.waiting.peekAt(i)!.working();
      }, Math.max(1_000, this.ackWaitMs / 3));
    }
  }

  private async ensureConsumer(stream: string, durable: string, filter: string, concurrency: number) {
    const config: Partial<ConsumerConfig> = {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: filter,
      ack_wait: nanos(this.ackWaitMs),
      // The transport decides when to give up (it must dead-letter first), so the server never does.
      max_deliver: -1,
      max_ack_pending: Math.max(1000, concurrency * 4),
    };
    const mutable = {
      ack_wait: config.ack_wait,
      max_deliver: config.max_deliver,
      max_ack_pending: config.max_ack_pending,
      filter_subject: config.filter_subject,
    };
    let current: ConsumerConfig;
    try {
      current = (await this.jsm!.consumers.info(stream, durable)).config;
    } catch (error) {
      if (!(error instanceof JetStreamApiError) || error.code !== 10014) throw error; // 10014: consumer not found
      await this.jsm!.consumers.add(stream, config);
      return;
    }
    // Update only on drift: an update is a write to the server's consumer state.
    const drifted = (Object.keys(mutable) as (keyof typeof mutable)[]).some((key) => current[key] !== mutable[key]);
    if (drifted) await this.jsm!.consumers.update(stream, durable, mutable);
  }

  /** Starts the message now if the handler has room, else queues it; stream order is kept. */
  private deliver(subscription: Subscription, msg: JsMsg) {
    // Stopping: leave it unacked; JetStream redelivers it after ack_wait. (A nak here is redelivered
    // at once into this consumer's still-open pull request, and then again later.)
    if (this.stopping) return;
    if (subscription.workers.size < subscription.options.concurrency) {
      const worker: Promise<void> = this.work(subscription, msg).finally(() => subscription.workers.delete(worker));
      subscription.workers.add(worker);
    } else {
      subscription.waiting.push(msg);
    }
  }

  /** One handler slot: handles `msg`, then whatever waits, in order, until nothing does. */
  private async work(subscription: Subscription, first: JsMsg): Promise<void> {
    for (let msg: JsMsg | undefined = first; msg; msg = this.stopping ? undefined : subscription.waiting.shift()) {
      subscription.running.add(msg);
      try {
        await this.handle(subscription, msg);
      } finally {
        subscription.running.delete(msg);
      }
    }
    // Nothing more to start: send the acks of what was handled now rather than at the end of this turn.
    this.flushAcks();
  }

  // -------------------------------------------------------------------------------------------
  // Acks. A message is acked once its handler resolved; the ack is handed to the connection when
  // its handler slot runs out of waiting messages, or at the latest at the end of the current turn
  // of the event loop (setImmediate), whichever comes first. Handlers of buffered messages that
  // resolve without I/O thus have their acks written to the socket together (the NATS client
  // writes once per microtask checkpoint), as a bare consumer acking in its callback does, instead
  // of one socket write per message. Each message is still acked individually, and only after its
  // own handler resolved; `close()` sends any before flushing.

  private readonly pendingAcks: JsMsg[] = [];
  private ackTimer?: NodeJS.Immediate;

  private ack(msg: JsMsg) {
    this.pendingAcks.push(msg);
    this.ackTimer ??= setImmediate(this.onAckTimer);
  }

  // The timer is left to fire (finding nothing to send) rather than cleared at each flush: a handler
  // slot that runs dry once per message would otherwise pay a clearImmediate and a setImmediate each.
  private readonly onAckTimer = () => {
    this.ackTimer = undefined;
    this.flushAcks();
  };

  private readonly flushAcks = () => {
    const acks = this.pendingAcks;
    if (acks.length === 0) return;
    for (let i = 0; i < acks.length; i++) {
      try {
        acks[i]!.ack();
      } catch (error) {
        // The connection is closed: the message comes back after ack_wait (handlers are idempotent).
        this.logger.error(`could not ack message ${acks[i]!.seq}: ${describeError(error)}`);
      }
    }
    acks.length = 0;
  };

  // Not `async`: it returns `process`'s or `deadLetter`'s promise as is, without wrapping it in another.
  private handle(subscription: Subscription, msg: JsMsg): Promise<void> {
    const delivery = deliveryOf(msg);
    const poison = decideBeforeHandling(this.retry, delivery.deliveryCount);
    if (poison?.action === 'dead-letter') return this.deadLetter(subscription, msg, poison.reason);
    // A replayed dead letter: its headers say where the event was first published. Trusted only
    // from the replay stream, which only the DLQ replay (an operator) publishes to.
    const origin = delivery.stream === this.replayStream ? replayOriginOf(msg.headers) : null;
    let raw: unknown;
    try {
      raw = JSON.parse(decoder.decode(msg.data));
    } catch (error) {
      return this.deadLetter(subscription, msg, `malformed JSON: ${describeError(error)}`);
    }
    let event: ReturnType<EventRegistry['parse']>;
    try {
      event = this.registry.parse(raw, subscription.parseOptions);
      // type and resource passed the envelope's token patterns, so plain concatenation is safe.
      const expected = `${this.topology.namespace}.events.${event.type}.${event.resource}`;
      const subject = origin?.subject ?? msg.subject;
      if (expected !== subject) throw new Error(`published on ${subject} but its type and resource belong on ${expected}`);
    } catch (error) {
      return this.deadLetter(subscription, msg, `invalid event: ${describeError(error)}`);
    }
    // Not acted on: a source that may not publish this type, or a date ahead of every clock. Permanent
    // (no retry helps), so dead-lettered at once, with the reason, where operators see it.
    if (this.options.provenance && subscription.options.provenance === 'enforce') {
      const verdict = checkProvenance(this.options.provenance, event, Date.now());
      if (!verdict.trusted) return this.deadLetter(subscription, msg, `refused (${verdict.kind}): ${verdict.reason}`);
    }

    // As `tracer.startActiveSpan`, without a closure per message; the handler runs inside the span.
    const parent = extractTraceContextOf(msg, context.active());
    const span = tracer.startSpan(
      `process ${event.type}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.destination.name': msg.subject,
          'messaging.consumer.group.name': subscription.durable,
          'messaging.message.id': event.id,
          'messaging.message.conversation_id': event.correlationId,
          'continuity.resource': event.resource,
        },
      },
      parent,
    );
    // The stream sequence parses the whole reply subject: only worth it for a span that records it.
    if (span.isRecording()) {
      span.setAttributes({ 'messaging.nats.stream_sequence': msg.seq, 'messaging.nats.delivery_count': delivery.deliveryCount });
    }
    // No tracing at all (no SDK, no trace to continue): there is nothing to make active.
    if (!span.isRecording() && !isSpanContextValid(span.spanContext())) return this.process(subscription, msg, event, raw, span, origin);
    return context.with(trace.setSpan(parent, span), this.process, this, subscription, msg, event, raw, span, origin);
  }

  private async process(
    subscription: Subscription,
    msg: JsMsg,
    event: ReturnType<EventRegistry['parse']>,
    raw: unknown,
    span: Span,
    origin: ReturnType<typeof replayOriginOf>,
  ) {
    const started = performance.now();
    try {
      for (let attempt = 1; ; attempt++) {
        // A dependency is down: start nothing until it answers (checked without awaiting otherwise).
        if (this.outageLog.isBlocked()) await this.outageLog.whenClear();
        if (this.stopping) return; // left unacked: redelivered after ack_wait
        try {
          const result = await subscription.handler(event, new JetStreamContext([msg, subscription.durable, raw, origin]));
          if (isObservable(result)) await lastValueFrom(result, { defaultValue: undefined });
          this.ack(msg);
          this.outageLog.succeeded();
          this.instruments.handled.add(1, subscription.metricAttributes.acked);
          return;
        } catch (error) {
          span.recordException(error as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
          const decision = decideOnFailure({ ...this.retry, maxDeliver: subscription.options.maxDeliver }, msg.info.deliveryCount, error, attempt, Math.random, this.options.endpoints);
          this.instruments.handled.add(1, decision.action === 'dead-letter' ? subscription.metricAttributes.deadLettered : subscription.metricAttributes.retried);
          if (decision.action === 'wait') {
            this.outageLog.report(decision.dependency, decision.reason);
            this.logger.debug?.(`${subscription.durable}: ${event.type} ${event.id} waits for ${decision.dependency} (attempt ${attempt}), next try in ≥ ${decision.delayMs} ms`);
            await this.outageLog.waitToRetry(decision.delayMs);
            continue;
          }
          if (decision.action === 'retry') {
            this.logger.warn?.(
              `${subscription.durable}: ${event.type} ${event.id} failed (delivery ${msg.info.deliveryCount}), retrying in ${decision.delayMs} ms: ${describeError(error)}`,
            );
            msg.nak(decision.delayMs);
          } else {
            await this.deadLetter(subscription, msg, decision.reason, false);
          }
          return;
        }
      }
    } finally {
      this.instruments.handleDuration.record(performance.now() - started, subscription.metricAttributes.consumer);
      span.end();
    }
  }

  private async deadLetter(subscription: Subscription, msg: JsMsg, reason: string, count = true) {
    try {
      await writeDeadLetter(this.js!, this.topology, msg, subscription.durable, reason);
      msg.term(); // only once the dead letter is durable: nothing is dropped silently
      if (count) this.instruments.handled.add(1, subscription.metricAttributes.deadLettered);
      this.logger.error(`${subscription.durable}: message ${msg.seq} on ${msg.subject} dead-lettered: ${reason}`);
    } catch (error) {
      this.logger.error(`${subscription.durable}: could not dead-letter message ${msg.seq}, will retry: ${describeError(error)}`);
      msg.nak(this.retry.initialDelayMs);
    }
  }

  /**
   * Graceful stop: pull no more, give buffered messages back, let in-flight handlers finish and
   * ack, flush the acks, then drain the connection if it is ours.
   */
  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.outageLog.close(); // handlers waiting for a dependency give their messages back
    await Promise.all(
      this.subscriptions.map(async (s) => {
        await Promise.all([s.messages?.close(), s.replayMessages?.close()]);
        s.waiting.clear(); // not started: redelivered after ack_wait
        while (s.workers.size > 0) await Promise.allSettled([...s.workers]);
        clearInterval(s.keepAlive);
      }),
    );
    this.flushAcks();
    if (this.ackTimer) clearImmediate(this.ackTimer);
    this.ackTimer = undefined;
    if (this.nc && !this.nc.isClosed()) {
      await this.nc.flush().catch(() => undefined);
      if (!this.options.connection) await this.nc.drain().catch(() => undefined);
    }
  }

  /** True while connected to NATS (for readiness checks). */
  isConnected(): boolean {
    return !!this.nc && !this.nc.isClosed() && !this.stopping;
  }

  on(): never {
    throw new Error('JetStreamTransport does not support event listeners; use health checks instead');
  }

  unwrap<T>(): T {
    if (!this.nc) throw new Error('JetStreamTransport is not listening yet');
    return this.nc as T;
  }
}
