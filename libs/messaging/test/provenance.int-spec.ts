import { Controller, INestMicroservice, Module } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { ContinuityEvent, ContinuityPublisher, provenancePolicy, Topology } from '@continuity/contracts';
import { aFailoverTriggeredData } from '@continuity/contracts/testing';
import { JetStreamTransport, OnEvent } from '../src/index.js';
import { connectTestNats, createTestTopology, TEST_NATS_URL, pollUntil, readDeadLetters, RethrowEventErrors } from '../src/testing.js';

const acted: string[] = [];
const recorded: string[] = [];

@Controller()
class FailoverListener {
  @OnEvent('FailoverTriggered')
  onTriggered(@Payload() event: ContinuityEvent<'FailoverTriggered'>) {
    acted.push(event.data.failoverId);
  }

  // As the audit ledger: sees everything, judges provenance itself.
  @OnEvent('*', { durable: 'test_ledger', provenance: 'record' })
  onAny(@Payload() event: ContinuityEvent) {
    if (event.type === 'FailoverTriggered') recorded.push(event.data.failoverId);
  }
}

@Module({ controllers: [FailoverListener] })
class ListenerModule {}

describe('JetStreamTransport: provenance (real NATS)', () => {
  let nc: NatsConnection;
  let topology: Topology & { remove(): Promise<void> };
  let app: INestMicroservice;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'prv');
    const moduleRef = await Test.createTestingModule({ imports: [ListenerModule] }).compile();
    app = moduleRef.createNestMicroservice({
      strategy: new JetStreamTransport({ serviceName: 'test', servers: TEST_NATS_URL, topology, provenance: provenancePolicy([], 5 * 60_000) }),
      logger: false,
    });
    app.useGlobalFilters(new RethrowEventErrors());
    await app.listen();
  });

  afterAll(async () => {
    await app?.close();
    await topology?.remove();
    await nc?.close();
  });

  const as = (source: string) => new ContinuityPublisher(jetstream(nc), { source, topology });

  it('refuses a FailoverTriggered dated a year ahead or from another source; acts on the genuine one', async () => {
    const ahead = await as('failover').publish('FailoverTriggered', { resource: 'orders-db', data: aFailoverTriggeredData(), occurredAt: new Date(Date.now() + 365 * 86_400_000) });
    const forged = await as('verifier').publish('FailoverTriggered', { resource: 'orders-db', data: aFailoverTriggeredData() });
    const genuine = await as('failover').publish('FailoverTriggered', { resource: 'orders-db', data: aFailoverTriggeredData() });

    await pollUntil(async () => acted.includes(genuine.event.data.failoverId), { what: 'the genuine FailoverTriggered to be handled' });
    const letters = await pollUntil(async () => {
      const all = (await readDeadLetters(nc, topology)).filter((l) => l.consumer === 'test_FailoverTriggered');
      return all.length >= 2 ? all : null;
    }, { what: 'two dead letters' });
    expect(letters.map((l) => l.streamSequence).sort()).toEqual([ahead.seq, forged.seq].sort());
    expect(letters.find((l) => l.streamSequence === ahead.seq)!.reason).toMatch(/^refused \(future-dated\): occurredAt \S+ is 3153\d{4} s in the future/);
    expect(letters.find((l) => l.streamSequence === forged.seq)!.reason).toBe(
      'refused (unauthorized-source): source "verifier" may not publish FailoverTriggered for orders-db; it is published by failover',
    );
    expect(acted).toEqual([genuine.event.data.failoverId]);
    // A `record` handler gets all three, in order.
    await pollUntil(async () => recorded.length === 3, { what: 'the recording handler to see all three' });
    expect(recorded).toEqual([ahead, forged, genuine].map((p) => p.event.data.failoverId));
  });
});
