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

  it('answers a request past its deadline as failed, switching nothing', async () => {
    const stale = await as('backup').publish('DrillStepRequested', { resource: 'orders-db', data: aDrillStepRequestedData({ deadline: new Date(Date.now() - 1_000).toISOString() }) });
    const answer = await pollUntil(async () => (await eventsOf(nc, topology.eventStream, 'FailoverRehearsed')).find((a) => a.data.requestId === stale.event.id), {
      what: 'the stale request answered',
      timeoutMs: 15_000,
    });
    expect(answer.data).toMatchObject({ outcome: 'failed', failoverId: null, reason: expect.stringContaining('after its deadline') });
  }, 30_000);
});
