import { Controller, INestMicroservice, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ContinuityEvent, ContinuityPublisher } from '@continuity/contracts';
import { aBackupCreatedData } from '@continuity/contracts/testing';
import { JetStreamTransport, OnEvent } from '@continuity/messaging';
import { connectTestNats, createTestTopology, pollUntil, TEST_NATS_URL } from '@continuity/messaging/testing';
import { startTelemetry, Telemetry } from '../src/index.js';

const seen: { backupId: string; traceId: string | undefined }[] = [];

@Controller()
class Listener {
  @OnEvent('BackupCreated')
  onBackupCreated(event: ContinuityEvent<'BackupCreated'>) {
    seen.push({ backupId: event.data.backupId, traceId: trace.getActiveSpan()?.spanContext().traceId });
  }
}
@Module({ controllers: [Listener] })
class ListenerModule {}

describe('trace propagation through NATS (real NATS, in-memory span exporter)', () => {
  const exporter = new InMemorySpanExporter();
  let telemetry: Telemetry;
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let app: INestMicroservice;

  beforeAll(async () => {
    telemetry = startTelemetry({ serviceName: 'trace-test', spanProcessors: [new SimpleSpanProcessor(exporter)] });
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'trace');
    const moduleRef = await Test.createTestingModule({ imports: [ListenerModule] }).compile();
    app = moduleRef.createNestMicroservice({
      strategy: new JetStreamTransport({ serviceName: 'trace', servers: TEST_NATS_URL, topology }),
      logger: false,
    });
    await app.listen();
  });

  afterAll(async () => {
    await app?.close();
    await topology?.remove();
    await nc?.close();
    await telemetry?.shutdown();
  });

  it('makes publish → consume one trace: the consumer span is the producer span’s child', async () => {
    const publisher = new ContinuityPublisher(jetstream(nc), { source: 'test', topology });
    const { event } = await publisher.publish('BackupCreated', { resource: 'orders-db', data: aBackupCreatedData() });
    const consumerSpan = await pollUntil(
      () => exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CONSUMER && s.attributes['messaging.message.id'] === event.id),
      { what: 'the consumer span' },
    );
    const producerSpan = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.PRODUCER && s.attributes['messaging.message.id'] === event.id);
    expect(producerSpan).toBeDefined();
    expect(consumerSpan.spanContext().traceId).toBe(producerSpan!.spanContext().traceId);
    expect(consumerSpan.parentSpanContext?.spanId).toBe(producerSpan!.spanContext().spanId);
    expect(consumerSpan.attributes['messaging.consumer.group.name']).toBe('trace_BackupCreated');
    // The handler runs inside the consumer span, so its own work joins the same trace.
    expect(seen.find((s) => s.backupId === event.data.backupId)?.traceId).toBe(producerSpan!.spanContext().traceId);
  });
});
