import { Controller, INestMicroservice, Module } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { ContinuityEvent, ContinuityPublisher, eventSubject, Topology } from '@continuity/contracts';
import { anEvent, aBackupCreatedData } from '@continuity/contracts/testing';
import { JetStreamContext, JetStreamTransport, OnEvent } from '../src/index.js';
import { connectTestNats, createTestTopology, TEST_NATS_URL, pollUntil, readDeadLetters, streamMessageCount, RethrowEventErrors } from '../src/testing.js';

/** What the handler does for each backupId; the test sets it. Records every delivery. */
const behaviour = new Map<string, (deliveryCount: number) => Promise<void> | void>();
const deliveries: { backupId: string; deliveryCount: number; seq: number }[] = [];
const effects = new Map<string, number>();

@Controller()
class BackupListener {
  @OnEvent('BackupCreated')
  async onBackupCreated(@Payload() event: ContinuityEvent<'BackupCreated'>, @Ctx() ctx: JetStreamContext) {
    deliveries.push({ backupId: event.data.backupId, deliveryCount: ctx.deliveryCount, seq: ctx.streamSequence });
    await behaviour.get(event.data.backupId)?.(ctx.deliveryCount);
    effects.set(event.data.backupId, (effects.get(event.data.backupId) ?? 0) + 1);
  }
}

@Module({ controllers: [BackupListener] })
class ListenerModule {}

describe('JetStreamTransport (real NATS)', () => {
  let nc: NatsConnection;
  let topology: Topology & { remove(): Promise<void> };
  let app: INestMicroservice;
  let publisher: ContinuityPublisher;

  const startApp = async () => {
    const moduleRef = await Test.createTestingModule({ imports: [ListenerModule] }).compile();
    const instance = moduleRef.createNestMicroservice({
      strategy: new JetStreamTransport({
        serviceName: 'test',
        servers: TEST_NATS_URL, // its own connection, as a real process has
        topology,
        retry: { maxDeliver: 3, initialDelayMs: 20, maxDelayMs: 50 },
        // Messages already on the wire when a consumer stops come back after ack_wait: keep it short here.
        ackWaitMs: 2_000,
      }),
      logger: false,
    });
    // As the services' HttpErrorFilter does: handler errors reach the transport as thrown, not as Nest's "Internal server error".
    instance.useGlobalFilters(new RethrowEventErrors());
    await instance.listen();
    return instance;
  };

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'msg');
    publisher = new ContinuityPublisher(jetstream(nc), { source: 'test', topology });
    app = await startApp();
  });

  afterAll(async () => {
    await app?.close();
    await topology?.remove();
    await nc?.close();
  });

  const publishBackup = async (then?: (deliveryCount: number) => Promise<void> | void) => {
    const data = aBackupCreatedData();
    if (then) behaviour.set(data.backupId, then);
    await publisher.publish('BackupCreated', { resource: 'orders-db', data });
    return data.backupId;
  };
  const deliveriesOf = (backupId: string) => deliveries.filter((d) => d.backupId === backupId);

  it('delivers a published event to its handler once and acks it', async () => {
    const backupId = await publishBackup();
    await pollUntil(() => effects.get(backupId) === 1, { what: 'the handler to run' });
    const consumer = await (await jetstream(nc).consumers.get(topology.eventStream, 'test_BackupCreated')).info();
    await pollUntil(async () => (await (await jetstream(nc).consumers.get(topology.eventStream, 'test_BackupCreated')).info()).num_ack_pending === 0, {
      what: 'the ack',
    });
    expect(consumer.config.filter_subject).toBe(`${topology.namespace}.events.BackupCreated.*`);
    expect(deliveriesOf(backupId)).toEqual([expect.objectContaining({ deliveryCount: 1 })]);
  });

  it('retries a handler that throws twice, then applies its effect once', async () => {
    const backupId = await publishBackup((n) => {
      if (n < 3) throw new Error(`transient failure ${n}`);
    });
    await pollUntil(() => effects.get(backupId) === 1, { what: 'the third delivery to succeed' });
    expect(deliveriesOf(backupId).map((d) => d.deliveryCount)).toEqual([1, 2, 3]);
    expect(effects.get(backupId)).toBe(1);
  });

  it('dead-letters a handler that always throws after maxDeliver, with the reason, and is not blocked by it', async () => {
    const poisoned = await publishBackup(() => {
      throw new Error('disk full');
    });
    const after = await publishBackup();
    await pollUntil(() => effects.get(after) === 1, { what: 'the next event to be handled' });
    const letters = await pollUntil(async () => {
      const all = await readDeadLetters(nc, topology);
      return all.find((l) => new TextDecoder().decode(l.payload).includes(poisoned));
    }, { what: 'the dead letter' });
    expect(letters.reason).toBe('handler failed on all 3 deliveries: disk full');
    expect(letters.consumer).toBe('test_BackupCreated');
    expect(letters.deliveryCount).toBe(3);
    expect(letters.subject).toBe(eventSubject('BackupCreated', 'orders-db', topology));
    expect(JSON.parse(new TextDecoder().decode(letters.payload)).data.backupId).toBe(poisoned);
    expect(letters.headers['Nats-Msg-Id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(deliveriesOf(poisoned)).toHaveLength(3);
    expect(effects.get(poisoned)).toBeUndefined();
  });

  it('dead-letters malformed JSON and a schema-invalid event at once, with the validation message', async () => {
    const js = jetstream(nc);
    const subject = eventSubject('BackupCreated', 'orders-db', topology);
    const h = natsHeaders();
    h.set('X-Origin', 'hand-written-publisher');
    const malformed = await js.publish(subject, '{"id": oops', { headers: h });
    const invalid = anEvent('BackupCreated');
    const invalidAck = await js.publish(subject, JSON.stringify({ ...invalid, data: { ...invalid.data, sizeBytes: -1 } }));
    const letters = await pollUntil(async () => {
      const all = await readDeadLetters(nc, topology);
      const a = all.find((l) => l.streamSequence === malformed.seq);
      const b = all.find((l) => l.streamSequence === invalidAck.seq);
      return a && b ? { a, b } : null;
    }, { what: 'both dead letters' });
    expect(letters.a.reason).toMatch(/^malformed JSON: /);
    expect(new TextDecoder().decode(letters.a.payload)).toBe('{"id": oops');
    expect(letters.a.headers['X-Origin']).toBe('hand-written-publisher');
    expect(letters.a.deliveryCount).toBe(1);
    expect(letters.b.reason).toBe(
      `invalid event: ContractViolationError: BackupCreated v${invalid.version} is invalid: data.sizeBytes: Too small: expected number to be >=0`,
    );
    expect(letters.b.deliveryCount).toBe(1);
  });

  it('dead-letters an event published on a subject that does not match its type and resource', async () => {
    const event = anEvent('BackupCreated', { resource: 'billing-db' });
    const ack = await jetstream(nc).publish(eventSubject('BackupCreated', 'orders-db', topology), JSON.stringify(event));
    const letter = await pollUntil(async () => (await readDeadLetters(nc, topology)).find((l) => l.streamSequence === ack.seq), {
      what: 'the dead letter',
    });
    expect(letter.reason).toContain('belong on');
  });

  it('keeps one message when the same event id is published twice', async () => {
    const event = anEvent('BackupCreated');
    const before = await streamMessageCount(nc, topology.eventStream);
    const first = await publisher.publishEnvelope(event);
    const second = await publisher.publishEnvelope(event);
    expect(first.duplicate).toBe(false);
    expect(second).toEqual({ event, seq: first.seq, duplicate: true });
    expect(await streamMessageCount(nc, topology.eventStream)).toBe(before + 1);
    await pollUntil(() => effects.get(event.data.backupId) === 1, { what: 'the handler' });
  });

  it('processes every one of 100 in-flight events exactly once across a graceful stop and a restart', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      const data = aBackupCreatedData();
      behaviour.set(data.backupId, () => new Promise((resolve) => setTimeout(resolve, 5)));
      ids.push(data.backupId);
    }
    await Promise.all(ids.map((backupId) => publisher.publish('BackupCreated', { resource: 'orders-db', data: aBackupCreatedData({ backupId }) })));
    await pollUntil(() => ids.some((id) => effects.has(id)), { what: 'processing to start' });
    await app.close(); // what SIGTERM triggers with enableShutdownHooks
    const doneBeforeRestart = ids.filter((id) => effects.has(id)).length;
    expect(doneBeforeRestart).toBeLessThan(100);
    app = await startApp();
    await pollUntil(() => ids.every((id) => effects.has(id)), { what: 'all 100 events', timeoutMs: 20_000 });
    expect(ids.map((id) => deliveriesOf(id).length)).toEqual(ids.map(() => 1));
    expect(ids.map((id) => effects.get(id))).toEqual(ids.map(() => 1));
  });
});
