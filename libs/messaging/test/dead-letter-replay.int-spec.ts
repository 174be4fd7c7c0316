import { Controller, INestMicroservice, Module, Type } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { ContinuityEvent, ContinuityPublisher, DomainError, eventSubject, replayStreamOf, Topology } from '@continuity/contracts';
import { aBackupCreatedData } from '@continuity/contracts/testing';
import { DeadLetters, JetStreamContext, JetStreamTransport, OnEvent } from '../src/index.js';
import { connectTestNats, createTestTopology, pollUntil, readStream, streamMessageCount, TEST_NATS_URL, RethrowEventErrors } from '../src/testing.js';

/** Backup ids the "fixme" handler fails on until the test fixes it. */
const broken = new Set<string>();
const deliveries: { service: string; backupId: string; eventId: string; replayOf: number | null; streamSequence: number }[] = [];
/** Effects applied, once per event id (the handlers are idempotent, as every consumer must be). */
const applied = new Map<string, Set<string>>([['fixme', new Set()], ['other', new Set()]]);

const listener = (service: string): Type<unknown> => {
  @Controller()
  class Listener {
    @OnEvent('BackupCreated')
    onBackupCreated(@Payload() event: ContinuityEvent<'BackupCreated'>, @Ctx() ctx: JetStreamContext) {
      deliveries.push({ service, backupId: event.data.backupId, eventId: event.id, replayOf: ctx.replayOf?.deadLetterSequence ?? null, streamSequence: ctx.streamSequence });
      if (service === 'fixme' && broken.has(event.data.backupId)) throw new Error('handler bug: cannot read property copies');
      applied.get(service)!.add(event.id);
    }
  }
  @Module({ controllers: [Listener] })
  class ListenerModule {}
  return ListenerModule;
};

describe('dead letters come back (real NATS)', () => {
  let nc: NatsConnection;
  let topology: Topology & { remove(): Promise<void> };
  let apps: INestMicroservice[] = [];
  let publisher: ContinuityPublisher;
  let deadLetters: DeadLetters;

  const startApp = async (service: string) => {
    const moduleRef = await Test.createTestingModule({ imports: [listener(service)] }).compile();
    const app = moduleRef.createNestMicroservice({
      strategy: new JetStreamTransport({ serviceName: service, servers: TEST_NATS_URL, topology, retry: { maxDeliver: 2, initialDelayMs: 20, maxDelayMs: 50 }, ackWaitMs: 2_000 }),
      logger: false,
    });
    app.useGlobalFilters(new RethrowEventErrors());
    await app.listen();
    return app;
  };

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'dlq');
    publisher = new ContinuityPublisher(jetstream(nc), { source: 'test', topology });
    deadLetters = new DeadLetters(nc, { topology, publisher: new ContinuityPublisher(jetstream(nc), { source: 'continuity-dlq', topology }) });
    apps = [await startApp('fixme'), await startApp('other')];
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await topology?.remove();
    await nc?.close();
  });

  const of = (service: string, backupId: string) => deliveries.filter((d) => d.service === service && d.backupId === backupId);
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected a refusal');
      },
      (error: DomainError) => ({ code: error.code, status: error.status }),
    );
  const consumerInfo = async (stream: string, durable: string) => (await jetstreamManager(nc)).consumers.info(stream, durable);

  it('dead-letters a poison message with its reason without blocking the next, then replays it to that consumer alone, once', async () => {
    const before = new Date(Date.now() - 1_000);
    const poison = aBackupCreatedData();
    broken.add(poison.backupId);
    const { event, seq: eventSeq } = await publisher.publish('BackupCreated', { resource: 'orders-db', data: poison });
    const next = await publisher.publish('BackupCreated', { resource: 'orders-db', data: aBackupCreatedData() });

    await pollUntil(() => applied.get('fixme')!.has(next.event.id), { what: 'the next message to be handled' });
    const [letter] = await pollUntil(async () => (await deadLetters.list({ eventId: event.id })).items[0] && (await deadLetters.list({ eventId: event.id })).items, {
      what: 'the dead letter',
    });
    expect(letter).toMatchObject({
      consumer: 'fixme_BackupCreated',
      reason: 'handler failed on all 2 deliveries: handler bug: cannot read property copies',
      deliveryCount: 2,
      stream: topology.eventStream,
      streamSequence: eventSeq,
      subject: eventSubject('BackupCreated', 'orders-db', topology),
      event: { id: event.id, type: 'BackupCreated', resource: 'orders-db' },
      replayed: null,
    });
    expect(applied.get('other')!.has(event.id)).toBe(true);

    // Filters: by consumer, time and event id.
    expect((await deadLetters.list({ consumer: 'fixme_BackupCreated' })).items.map((l) => l.sequence)).toContain(letter!.sequence);
    expect((await deadLetters.list({ consumer: 'other_BackupCreated' })).items).toEqual([]);
    expect((await deadLetters.list({ since: before })).items.map((l) => l.sequence)).toContain(letter!.sequence);
    expect((await deadLetters.list({ since: new Date(Date.now() + 60_000) })).items).toEqual([]);
    const shown = await deadLetters.show(letter!.sequence);
    expect(JSON.parse(shown.body)).toEqual(JSON.parse(JSON.stringify(event)));
    expect(shown.headers['Nats-Msg-Id']).toBe(event.id);

    // The fix is deployed; the operator replays.
    broken.delete(poison.backupId);
    const eventsBefore = await streamMessageCount(nc, topology.eventStream);
    const result = await deadLetters.replay(letter!.sequence, { by: 'alice' });
    await pollUntil(() => applied.get('fixme')!.has(event.id), { what: 'the replayed event to be handled' });
    await pollUntil(async () => (await consumerInfo(replayStreamOf(topology), 'fixme_BackupCreated_replay')).num_ack_pending === 0, { what: 'the replay ack' });

    const replayed = of('fixme', poison.backupId).filter((d) => d.replayOf !== null);
    expect(replayed).toEqual([{ service: 'fixme', backupId: poison.backupId, eventId: event.id, replayOf: letter!.sequence, streamSequence: eventSeq }]);
    // The other consumer of BackupCreated is not handed it again: nothing for its replay twin, and
    // the event stream did not grow but for the DeadLetterReplayed record.
    const otherReplays = await consumerInfo(replayStreamOf(topology), 'other_BackupCreated_replay');
    expect(otherReplays.delivered.stream_seq).toBe(0);
    expect(otherReplays.num_pending).toBe(0);
    expect(of('other', poison.backupId)).toHaveLength(1);
    expect(await streamMessageCount(nc, topology.eventStream)).toBe(eventsBefore + 1);

    // Recorded for the audit ledger.
    const records = (await readStream(nc, topology.eventStream)).filter((m) => m.subject === eventSubject('DeadLetterReplayed', 'orders-db', topology));
    expect(records).toHaveLength(1);
    const record = records[0]!.json<ContinuityEvent<'DeadLetterReplayed'>>();
    expect(record).toEqual(result.recorded);
    expect(record).toMatchObject({
      type: 'DeadLetterReplayed',
      source: 'continuity-dlq',
      resource: 'orders-db',
      causationId: event.id,
      correlationId: event.correlationId,
      data: {
        consumer: 'fixme_BackupCreated',
        deadLetterStream: topology.deadLetterStream,
        deadLetterSequence: letter!.sequence,
        replaySequence: result.replaySequence,
        original: { eventId: event.id, type: 'BackupCreated', subject: letter!.subject, streamSequence: eventSeq },
        reason: letter!.reason,
        deliveryCount: 2,
        replayedBy: 'alice',
        forced: false,
      },
    });

    // Once is enough: a second replay needs force, and `list` says who replayed it.
    expect(await refusal(deadLetters.replay(letter!.sequence, { by: 'bob' }))).toEqual({ code: 'DLQ.ALREADY_REPLAYED', status: 409 });
    const [listed] = (await deadLetters.list({ eventId: event.id })).items;
    expect(listed!.replayed).toEqual({ by: 'alice', at: record.data.replayedAt, attempt: 1, replaySequence: result.replaySequence });
    // The refused replay re-sent the same record (in case it had been lost): still one in the stream.
    expect(await streamMessageCount(nc, topology.eventStream)).toBe(eventsBefore + 1);

    // Forced: delivered again with the same event id; the idempotent handler applies nothing new.
    const forced = await deadLetters.replay(letter!.sequence, { by: 'bob', force: true });
    expect(forced.recorded.data).toMatchObject({ forced: true, replayedBy: 'bob' });
    await pollUntil(() => of('fixme', poison.backupId).filter((d) => d.replayOf !== null).length === 2, { what: 'the forced replay' });
    expect(applied.get('fixme')!.has(event.id)).toBe(true);
    expect((await deadLetters.list({ eventId: event.id })).items[0]!.replayed).toMatchObject({ by: 'bob', attempt: 2 });
  });

  it('dead-letters a replay that fails again; replaying that one still names the event where it was first published', async () => {
    const poison = aBackupCreatedData();
    broken.add(poison.backupId);
    const { event, seq: eventSeq } = await publisher.publish('BackupCreated', { resource: 'orders-db', data: poison });
    const first = await pollUntil(async () => (await deadLetters.list({ eventId: event.id, consumer: 'fixme_BackupCreated' })).items[0], { what: 'the dead letter' });
    await deadLetters.replay(first.sequence, { by: 'alice' }); // the fix is not deployed yet
    const again = await pollUntil(
      async () => (await deadLetters.list({ eventId: event.id, consumer: 'fixme_BackupCreated' })).items.find((l) => l.sequence !== first.sequence),
      { what: 'the replay to be dead-lettered again' },
    );
    expect(again).toMatchObject({ stream: replayStreamOf(topology), event: { id: event.id }, replayed: null });

    broken.delete(poison.backupId);
    const result = await deadLetters.replay(again.sequence, { by: 'alice' });
    expect(result.recorded.data.original).toEqual({ eventId: event.id, type: 'BackupCreated', subject: eventSubject('BackupCreated', 'orders-db', topology), streamSequence: eventSeq });
    await pollUntil(() => applied.get('fixme')!.has(event.id), { what: 'the second replay to be handled' });
    expect(of('fixme', poison.backupId).at(-1)).toMatchObject({ replayOf: again.sequence, streamSequence: eventSeq });
    expect(of('other', poison.backupId)).toHaveLength(1);
  });

  it('refuses to replay what is not a dead letter, or one no consumer could ever handle', async () => {
    const js = jetstream(nc);
    // A message on a dead-letter subject that the transport did not write (no dead-letter headers).
    const crafted = await js.publish(`${topology.namespace}.dlq.fixme_BackupCreated`, JSON.stringify({ id: 'x' }));
    expect(await refusal(deadLetters.replay(crafted.seq, { by: 'mallory' }))).toEqual({ code: 'DLQ.NOT_FOUND', status: 404 });
    expect(await refusal(deadLetters.replay(crafted.seq + 1_000, { by: 'mallory' }))).toEqual({ code: 'DLQ.NOT_FOUND', status: 404 });
    expect(await refusal(deadLetters.show(-1))).toEqual({ code: 'DLQ.INVALID_QUERY', status: 400 });
    expect(await refusal(deadLetters.list({ consumer: 'a.>' }))).toEqual({ code: 'DLQ.INVALID_QUERY', status: 400 });

    // Malformed JSON is dead-lettered at once; replaying it cannot help.
    const malformed = await js.publish(eventSubject('BackupCreated', 'orders-db', topology), '{"id": oops');
    const letter = await pollUntil(
      async () => (await deadLetters.list({ consumer: 'fixme_BackupCreated' })).items.find((l) => l.streamSequence === malformed.seq),
      { what: 'the malformed message to be dead-lettered' },
    );
    expect(letter.event).toBeNull();
    expect(await refusal(deadLetters.replay(letter.sequence, { by: 'alice' }))).toEqual({ code: 'DLQ.NOT_REPLAYABLE', status: 422 });
  });

  it('pages through dead letters', async () => {
    const all = (await deadLetters.list({ limit: 500 })).items;
    expect(all.length).toBeGreaterThanOrEqual(3);
    const first = await deadLetters.list({ limit: 1 });
    const second = await deadLetters.list({ limit: 1, after: first.next! });
    expect([first.items[0]!.sequence, second.items[0]!.sequence]).toEqual([all[0]!.sequence, all[1]!.sequence]);
    expect(await refusal(deadLetters.list({ limit: 0 }))).toEqual({ code: 'DLQ.INVALID_QUERY', status: 400 });
  });
});
