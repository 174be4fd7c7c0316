import type { NatsConnection } from '@nats-io/transport-node';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { configYaml, eventsOf, startFailover, writeConfig, removeFailoverTest } from './harness.js';
import { createPgCluster, PgCluster } from './pg-cluster.js';

/** A planned switchover to a standby whose replay is paused: it cannot catch up, so nothing changes but the epoch. */
describe('a switchover whose target does not catch up (real replication)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let cluster: PgCluster;
  let config: ReturnType<typeof writeConfig>;
  let service: Awaited<ReturnType<typeof startFailover>>;

  const events = <T extends Parameters<typeof eventsOf>[2]>(type: T) => eventsOf(nc, topology.eventStream, type);
  const primaryProbedAfter = async (ms: number) =>
    Date.parse((await service.get('/failover/orders-db')).body.members.find((m: any) => m.name === 'pg-a').observation?.at ?? 0) > ms;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'fosw');
    cluster = await createPgCluster({ standbys: 1 });
    config = writeConfig(configYaml(cluster, { switchoverTimeoutMs: 1_500 }));
    service = await startFailover(topology.namespace, config.file, { FAILOVER_INSTANCE_ID: 'planner' });
    await pollUntil(async () => (await service.get('/failover/orders-db/primary')).status === 200, { what: 'the initial route', timeoutMs: 10_000 });
  }, 60_000);

  afterAll(async () => {
    await cluster?.node('pg-b').query('select pg_wal_replay_resume()').catch(() => undefined);
    await removeFailoverTest({ stopService: () => service?.app.close(), cluster, config, nc, topology });
  });

  it('is abandoned: 409, FailoverAbandoned published, the primary writable again and still routed', async () => {
    const a = cluster.primary;
    const b = cluster.node('pg-b');
    await b.query('select pg_wal_replay_pause()');
    await a.insertRows(100, 'not-replayed');

    const res = await service.post('/failover/orders-db/switchover', { to: 'pg-b' });
    expect(res).toMatchObject({ status: 409, body: { code: 'SWITCHOVER.ABANDONED', message: expect.stringContaining('wait for replay on pg-b failed') } });

    const [triggered] = await events('FailoverTriggered');
    expect(triggered!.data).toMatchObject({ planned: true, fromInstance: 'pg-a', toInstance: 'pg-b', epoch: 1, decidedBy: 'planner' });
    const abandoned = await pollUntil(async () => (await events('FailoverAbandoned'))[0], { what: 'FailoverAbandoned' });
    expect(abandoned).toMatchObject({
      resource: 'orders-db',
      source: 'failover',
      version: 1,
      causationId: triggered!.id,
      correlationId: triggered!.correlationId,
      data: { failoverId: triggered!.data.failoverId, fromInstance: 'pg-a', toInstance: 'pg-b', epoch: 1, planned: true },
    });
    expect(abandoned.data.reason).toMatch(/^wait for replay on pg-b failed: replayed \S+, needed \S+; pg-a is writable again and stays primary$/);
    expect(Date.parse(abandoned.data.at)).toBeGreaterThanOrEqual(Date.parse(triggered!.occurredAt));

    // Nothing changed but the epoch: pg-a takes writes and is routed, pg-b is a standby, nothing completed or fenced.
    await pollUntil(async () => (await a.query<{ v: string }>("select current_setting('default_transaction_read_only') as v"))[0]!.v === 'off', { what: 'pg-a writable again' });
    await a.insertRows(1, 'after-abandon');
    expect(await b.isInRecovery()).toBe(true);
    expect((await service.get('/failover/orders-db/primary')).body).toMatchObject({ primary: 'pg-a', epoch: 0 });
    expect((await service.get('/failover/orders-db')).body).toMatchObject({ primary: 'pg-a', epoch: 1, failoverInProgress: null });
    expect(await events('FailoverCompleted')).toEqual([]);
    expect(await events('ResourceDegraded')).toEqual([]);
  });

  it('succeeds once the target replays again, at the next epoch (the abandoned one stays taken)', async () => {
    await cluster.node('pg-b').query('select pg_wal_replay_resume()');
    // A healthy probe of the primary ends the outage in which pg-b's promotion was abandoned.
    const resumedAt = Date.now();
    await pollUntil(() => primaryProbedAfter(resumedAt), { what: 'a probe of pg-a after the resume' });
    const res = await service.post('/failover/orders-db/switchover', { to: 'pg-b' });
    expect(res).toMatchObject({ status: 200, body: { from: 'pg-a', to: 'pg-b', epoch: 2, planned: true, replicationLagBytes: 0 } });
    const completed = await pollUntil(async () => (await events('FailoverCompleted'))[0], { what: 'FailoverCompleted' });
    expect(completed.data).toMatchObject({ epoch: 2, planned: true, fromInstance: 'pg-a', newPrimary: 'pg-b', decidedBy: 'planner' });
    expect(await events('FailoverAbandoned')).toHaveLength(1);
  });
});
