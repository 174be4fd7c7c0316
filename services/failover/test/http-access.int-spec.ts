import type { NatsConnection } from '@nats-io/transport-node';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { callAsStrangers, MutatingRoute, refusedToStrangers } from '@continuity/runtime/testing';
import { configYaml, eventsOf, removeFailoverTest, startFailover, writeConfig } from './harness.js';
import { createPgCluster, PgCluster } from './pg-cluster.js';

/** Whoever can reach the port but holds no operator token cannot move the primary, nor unfence a member. */
describe('failover HTTP access (real replication)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let cluster: PgCluster;
  let config: ReturnType<typeof writeConfig>;
  let service: Awaited<ReturnType<typeof startFailover>>;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'foa');
    cluster = await createPgCluster({ standbys: 1 });
    config = writeConfig(configYaml(cluster));
    service = await startFailover(topology.namespace, config.file, { FAILOVER_INSTANCE_ID: 'solo' });
    await pollUntil(async () => (await service.get('/failover/orders-db/primary')).status === 200, { what: 'the initial route', timeoutMs: 10_000 });
  }, 60_000);

  afterAll(async () => {
    await removeFailoverTest({ stopService: () => service?.app.close(), cluster, config, nc, topology });
  });

  it('refuses every mutating route to an anonymous caller, a viewer and an auditor, and no switchover or route is written', async () => {
    const routes: MutatingRoute[] = [
      { method: 'POST', path: '/failover/orders-db/switchover', body: { to: 'pg-b' } },
      { method: 'POST', path: '/failover/orders-db/members/pg-a/rebuilt' },
      { method: 'POST', path: '/dlq/1/replay' },
    ];
    expect(await callAsStrangers(service.base, routes)).toEqual(refusedToStrangers(routes));
    expect((await service.get('/failover/orders-db/primary')).body).toMatchObject({ primary: 'pg-a', epoch: 0 });
    expect(await eventsOf(nc, topology.eventStream, 'FailoverTriggered')).toEqual([]);

    // The operator's switchover goes through.
    expect(await service.post('/failover/orders-db/switchover', { to: 'pg-b' })).toMatchObject({ status: 200 });
    expect((await service.get('/failover/orders-db/primary')).body).toMatchObject({ primary: 'pg-b', epoch: 1 });
  }, 60_000);
});
