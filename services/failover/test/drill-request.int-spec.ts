import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ContinuityPublisher } from '@continuity/contracts';
import { aDrillStepRequestedData } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil, readDeadLetters } from '@continuity/messaging/testing';
import { eventsOf, startFailover } from './harness.js';

/** The failover service's consumer of drill switchover requests (real NATS; no PostgreSQL needed: nothing may switch). */
describe('drill switchover requests (real NATS, failover service in-process)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let failover: Awaited<ReturnType<typeof startFailover>>;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'drq');
    failover = await startFailover(topology.namespace, null);
  });

  afterAll(async () => {
    await failover?.app.close();
    await topology?.remove();
    await nc?.close();
  });

  const as = (source: string) => new ContinuityPublisher(jetstream(nc), { source, topology });
  const deadline = () => new Date(Date.now() + 60_000).toISOString();

  it('refuses a forged DrillStepRequested from a publisher other than backup: dead-lettered with the reason, nothing answered', async () => {
    const forged = await as('verifier').publish('DrillStepRequested', { resource: 'orders-db', data: aDrillStepRequestedData({ deadline: deadline() }) });
    const letter = await pollUntil(async () => (await readDeadLetters(nc, topology)).find((l) => l.streamSequence === forged.seq), { what: 'the forged request dead-lettered', timeoutMs: 15_000 });
    expect(letter.reason).toBe(
      'refused (unauthorized-source): source "verifier" may not publish DrillStepRequested for orders-db; it is published by backup',
    );
    // A genuine request published after it is answered: the forged one was not (the consumer is past it).
    const genuine = await as('backup').publish('DrillStepRequested', { resource: 'orders-db', data: aDrillStepRequestedData({ deadline: deadline() }) });
    const answers = await pollUntil(async () => {
      const all = await eventsOf(nc, topology.eventStream, 'FailoverRehearsed');
      return all.some((a) => a.data.requestId === genuine.event.id) ? all : null;
    }, { what: "the genuine request's answer", timeoutMs: 15_000 });
    expect(answers.map((a) => a.data.requestId)).toEqual([genuine.event.id]);
    expect(answers[0]).toMatchObject({ source: 'failover', causationId: genuine.event.id, data: { outcome: 'failed', to: null, reason: 'orders-db is not watched by the failover service (watched: none)' } });
  }, 40_000);

  it('acts on a request at most once: redelivered after its answer (a new consumer, as after a crash before the ack), it is only acked', async () => {
    const request = await as('backup').publish('DrillStepRequested', { resource: 'orders-db', data: aDrillStepRequestedData({ deadline: deadline() }) });
    await pollUntil(async () => (await eventsOf(nc, topology.eventStream, 'FailoverRehearsed')).some((a) => a.data.requestId === request.event.id), { what: 'the first answer', timeoutMs: 15_000 });
    // A second service instance on a fresh consumer group would see it again: simulate the redelivery by a new process.
    await failover.app.close();
    const { jetstreamManager } = await import('@nats-io/jetstream');
    await (await jetstreamManager(nc)).consumers.delete(topology.eventStream, 'failover_DrillStepRequested');
    failover = await startFailover(topology.namespace, null);
    const later = await as('backup').publish('DrillStepRequested', { resource: 'orders-db', data: aDrillStepRequestedData({ deadline: deadline() }) });
    await pollUntil(async () => (await eventsOf(nc, topology.eventStream, 'FailoverRehearsed')).some((a) => a.data.requestId === later.event.id), { what: 'the later request answered', timeoutMs: 30_000 });
    // The new durable consumer starts from the first message (DeliverPolicy.All): every earlier request came again, none was answered twice.
    const answers = await eventsOf(nc, topology.eventStream, 'FailoverRehearsed');
    expect(answers.filter((a) => a.data.requestId === request.event.id)).toHaveLength(1);
    expect(new Set(answers.map((a) => a.data.requestId)).size).toBe(answers.length);
  }, 60_000);

  it('dead-letters a request that is not a valid event, with the reason', async () => {
    const { jetstream: js } = await import('@nats-io/jetstream');
    const bad = await js(nc).publish(`${topology.namespace}.events.DrillStepRequested.orders-db`, JSON.stringify({ type: 'DrillStepRequested', hello: 'world' }));
    const letter = await pollUntil(async () => (await readDeadLetters(nc, topology)).find((l) => l.streamSequence === bad.seq), { what: 'the poison request dead-lettered', timeoutMs: 15_000 });
    expect(letter.reason).toMatch(/^invalid event: /);
  }, 30_000);

  it('answers a request past its deadline as failed, switching nothing', async () => {
    const stale = await as('backup').publish('DrillStepRequested', { resource: 'orders-db', data: aDrillStepRequestedData({ deadline: new Date(Date.now() - 1_000).toISOString() }) });
    const answer = await pollUntil(async () => (await eventsOf(nc, topology.eventStream, 'FailoverRehearsed')).find((a) => a.data.requestId === stale.event.id), {
      what: 'the stale request answered',
      timeoutMs: 15_000,
    });
    expect(answer.data).toMatchObject({ outcome: 'failed', failoverId: null, reason: expect.stringContaining('after its deadline') });
  }, 30_000);
});
