import type { NatsConnection } from '@nats-io/transport-node';
import { v7 as uuidv7 } from 'uuid';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { startServiceProcess, TEST_DATABASE_URL } from '@continuity/runtime/testing';
import { FailoverStore } from '../src/coordination/failover-store.js';
import { configYaml, eventsOf, httpClient, startFailover, writeConfig, removeFailoverTest } from './harness.js';
import { createPgCluster, PgCluster } from './pg-cluster.js';

describe('failover service start-up', () => {
  it('refuses to start with a bad failover section, naming each bad key and its line', async () => {
    const config = writeConfig(`
failover:
  resources:
    orders-db:
      maxLagBytes: lots
      members:
        - { name: pg-a, connection: "postgres://postgres@127.0.0.1:1/postgres", role: primary }
        - { name: pg-b, connection: "postgres://postgres@127.0.0.1:2/postgres", role: boss }
`);
    try {
      const proc = await startServiceProcess('failover', { CONTINUITY_CONFIG: config.file, DATABASE_URL: TEST_DATABASE_URL });
      expect(await proc.exited).toBe(1);
      if (process.env.FAILOVER_TEST_LOG) console.log(proc.output());
      expect(proc.output()).toContain('failover.resources.orders-db.maxLagBytes (line 5): must be a whole number of bytes');
      expect(proc.output()).toContain('failover.resources.orders-db.members.1.role (line 8): must be "primary" or "standby"');
    } finally {
      config.remove();
    }
  });

  it('runs with nothing to watch when CONTINUITY_CONFIG is not set, and says so', async () => {
    const nc = await connectTestNats();
    const topology = await createTestTopology(nc, 'fos');
    const proc = await startServiceProcess('failover', { CONTINUITY_NAMESPACE: topology.namespace, DATABASE_URL: TEST_DATABASE_URL });
    try {
      await proc.waitForOutput('CONTINUITY_CONFIG is not set: no resources to watch');
      await proc.waitForOutput('failover listening on');
      const service = httpClient(`http://127.0.0.1:${proc.port}`);
      expect((await service.get('/failover')).body).toEqual({ instance: expect.any(String), resources: [] });
      expect((await service.get('/failover/orders-db')).status).toBe(404);
      expect((await service.get('/failover/orders-db/primary')).status).toBe(503);
      expect((await service.get('/health/ready')).body.checks.failover).toEqual({ status: 'up' });
    } finally {
      await proc.stop('SIGKILL');
      await topology.remove();
      await nc.close();
    }
  });
});

/**
 * A leader that dies after taking the epoch and promoting, but before routing: the next leader
 * finds the epoch ahead of the route, sees the target already out of recovery, and finishes.
 */
describe('finishing a failover its leader left unfinished (real replication)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let cluster: PgCluster;
  let config: ReturnType<typeof writeConfig>;
  let service: Awaited<ReturnType<typeof startFailover>> | null = null;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'fou');
    cluster = await createPgCluster({ standbys: 1 });
    config = writeConfig(configYaml(cluster));
  }, 60_000);

  afterAll(async () => {
    await removeFailoverTest({ stopService: () => service?.app.close(), cluster, config, nc, topology });
  });

  it('routes to the promoted target and publishes FailoverCompleted for the same failover id', async () => {
    const a = cluster.node('pg-a');
    const b = cluster.node('pg-b');
    const rows = await a.insertRows(50, 'before');
    await b.waitForReplay(await a.currentLsn());
    // What the dead leader did: route at epoch 0, pg-a killed, epoch 1 taken for pg-a → pg-b, pg-b promoted.
    const store = await FailoverStore.open(nc, topology.namespace, 2000);
    const now = new Date().toISOString();
    await store.writeRoute({ resource: 'orders-db', primary: 'pg-a', url: a.url, host: '127.0.0.1', port: a.port, epoch: 0, failoverId: null, updatedAt: now, updatedBy: 'dead-leader', fenced: [] });
    a.kill9();
    const failoverId = uuidv7();
    expect(await store.takeEpoch(0, { resource: 'orders-db', epoch: 1, from: 'pg-a', to: 'pg-b', planned: false, failoverId, takenAt: now, takenBy: 'dead-leader' })).toMatchObject({ taken: true });
    await b.query('select pg_promote(wait => true)');

    service = await startFailover(topology.namespace, config.file, { FAILOVER_INSTANCE_ID: 'heir' });
    const route = await pollUntil(async () => {
      const { body } = await service!.get('/failover/orders-db/primary');
      return body?.epoch === 1 ? body : null;
    }, { what: 'the route to epoch 1', timeoutMs: 10_000 });
    expect(route).toMatchObject({ primary: 'pg-b', epoch: 1, failoverId, updatedBy: 'heir', fenced: [{ member: 'pg-a', formerEpoch: 0 }] });
    const completed = await pollUntil(async () => (await eventsOf(nc, topology.eventStream, 'FailoverCompleted'))[0], { what: 'FailoverCompleted' });
    expect(completed).toMatchObject({ causationId: failoverId, data: { failoverId, newPrimary: 'pg-b', epoch: 1 } });
    expect(await b.readRowIds()).toEqual(expect.arrayContaining(rows));
    // No second failover for the outage of pg-a.
    expect(await eventsOf(nc, topology.eventStream, 'FailoverTriggered')).toEqual([]);
  });
});
