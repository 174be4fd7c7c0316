import { headers as natsHeaders } from '@nats-io/transport-node';
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { v7 as uuidv7 } from 'uuid';
import { Envelope } from './envelope.js';
import { continuityEvents, ContinuityEvent, EventDataMap, EventType } from './events.js';
import { EventRegistry } from './registry.js';
import { DEFAULT_TOPOLOGY, eventSubject, Topology } from './subjects.js';
import { injectTraceHeaders } from './trace-headers.js';

export interface PublishInput<T extends EventType> {
  resource: string;
  data: EventDataMap[T];
  /** When the fact became true; defaults to now. */
  occurredAt?: Date | string;
  /** Defaults to the event's own id (a new chain). */
  correlationId?: string;
  causationId?: string | null;
  /** Set it to make a retried publish a duplicate JetStream drops; defaults to a new UUIDv7. */
  id?: string;
}

export interface PublisherOptions {
  /** Who publishes: `backup`, `verifier` or your service's name. */
  source: string;
  topology?: Topology;
  registry?: EventRegistry;
  /** How long to wait for JetStream's ack. */
  timeoutMs?: number;
  /** Wall clock, injectable for tests. */
  now?: () => Date;
}

export interface Published<E extends Envelope = Envelope> {
  event: E;
  /** Stream sequence of the stored message. */
  seq: number;
  /** True when JetStream already held an event with this id (inside its dedupe window). */
  duplicate: boolean;
}

/** `{ correlationId, causationId }` for an event caused by `cause`. */
export const causedBy = (cause: Pick<Envelope, 'id' | 'correlationId'>) => ({
  correlationId: cause.correlationId,
  causationId: cause.id,
});

const tracer = trace.getTracer('@continuity/contracts');

/**
 * The typed way to publish a continuity fact. It validates before anything leaves the process
 * (throwing a `ContractViolationError` that lists every failing field), sets `Nats-Msg-Id` to the
 * event id so JetStream drops duplicates, carries the trace context in headers, and resolves only
 * once JetStream has stored the event.
 */
export class ContinuityPublisher {
  private readonly topology: Topology;
  private readonly registry: EventRegistry;

  constructor(
    private readonly js: JetStreamClient,
    private readonly options: PublisherOptions,
  ) {
    this.topology = options.topology ?? DEFAULT_TOPOLOGY;
    this.registry = options.registry ?? continuityEvents;
  }

  /** Builds and validates an event of the newest version of `type`, without publishing it. */
  build<T extends EventType>(type: T, input: PublishInput<T>): ContinuityEvent<T> {
    const id = input.id ?? uuidv7();
    const occurredAt = input.occurredAt ?? (this.options.now?.() ?? new Date());
    const envelope = {
      id,
      type,
      version: this.registry.latestVersion(type),
      source: this.options.source,
      resource: input.resource,
      occurredAt: typeof occurredAt === 'string' ? occurredAt : occurredAt.toISOString(),
      correlationId: input.correlationId ?? id,
      causationId: input.causationId ?? null,
      data: input.data,
    };
    return this.registry.parse(envelope) as ContinuityEvent<T>;
  }

  async publish<T extends EventType>(type: T, input: PublishInput<T>): Promise<Published<ContinuityEvent<T>>> {
    return this.send(this.build(type, input)); // build() has validated it
  }

  /** Publishes an envelope built elsewhere (validated here: it may come from anywhere). */
  async publishEnvelope<E extends Envelope>(envelope: E): Promise<Published<E>> {
    this.registry.parse(envelope, { allowUnknownTypes: true });
    return this.send(envelope);
  }

  private async send<E extends Envelope>(envelope: E): Promise<Published<E>> {
    const subject = eventSubject(envelope.type, envelope.resource, this.topology);
    return tracer.startActiveSpan(
      `publish ${envelope.type}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'send',
          'messaging.destination.name': subject,
          'messaging.message.id': envelope.id,
          'messaging.message.conversation_id': envelope.correlationId,
          'continuity.resource': envelope.resource,
        },
      },
      async (span) => {
        try {
          const headers = injectTraceHeaders(natsHeaders(), context.active());
          const ack: PubAck = await this.js.publish(subject, JSON.stringify(envelope), {
            msgID: envelope.id,
            headers,
            timeout: this.options.timeoutMs ?? 5_000,
          });
          span.setAttribute('messaging.nats.stream_sequence', ack.seq);
          return { event: envelope, seq: ack.seq, duplicate: ack.duplicate };
        } catch (error) {
          span.recordException(error as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
          throw error;
        } finally {
          span.end();
        }
      },
    );
  }
}
