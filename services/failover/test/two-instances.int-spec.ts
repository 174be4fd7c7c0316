import type { NatsConnection } from '@nats-io/transport-node';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { startServiceProcess, TEST_DATABASE_URL, type ServiceProcess } from '@continuity/runtime/testing';
import { configYaml, eventsOf, httpClient, writeConfig, removeFailoverTest } from './harness.js';
import { createPgCluster, PgCluster } from './pg-cluster.js';

const LEASE_TTL_MS = 2000;

/**
 * Two failover service processes (dist/main.js) watch pg-a (primary), pg-b and pg-c (standbys).
 * Exactly one acts. Killing it (SIGKILL: no lease release) hands the lease to the other within the
 * TTL, and that one handles the next failure (pg-c was re-pointed at pg-b by the first failover).
 */
describe('two failover instances (real processes, real replication)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let cluster: PgCluster;
  let config: ReturnType<typeof writeConfig>;
  const procs: Record<string, ServiceProcess> = {};
  const api = (id: string) => httpClient(`http://127.0.0.1:${procs[id]!.port}`);
  const view = async (id: string) => (await api(id).get('/failover/orders-db')).body;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'fo2');
    cluster = await createPgCluster({ standbys: 2 });
    config = writeConfig(configYaml(cluster, { leaseTtlMs: LEASE_TTL_MS }));
    const env = (id: string) => ({ CONTINUITY_NAMESPACE: topology.namespace, CONTINUITY_CONFIG: config.file, FAILOVER_INSTANCE_ID: id, DATABASE_URL: TEST_DATABASE_URL });
    const [x, y] = await Promise.all([startServiceProcess('failover', env('x')), startServiceProcess('failover', env('y'))]);
    procs.x = x!;
    procs.y = y!;
    await Promise.all([x!.waitForOutput('failover listening on'), y!.waitForOutput('failover listening on')]);
  }, 60_000);

  afterAll(async () => {
    await removeFailoverTest({ stopService: () => Promise.all(Object.values(procs).map((p) => p.stop('SIGKILL'))), cluster, config, nc, topology });
  });

  it('exactly one instance promotes; after the leader is killed the other takes the lease and handles the next failure', async () => {
    const [leader, follower] = await pollUntil(async () => {
      const [vx, vy] = await Promise.all([view('x'), view('y')]);
      if (vx.leader === vy.leader) return null; // both or neither: the lease has not settled yet
      return vx.leader ? (['x', 'y'] as const) : (['y', 'x'] as const);
    }, { what: 'exactly one leader' });
    await pollUntil(async () => (await api(follower).get('/failover/orders-db/primary')).body?.primary === 'pg-a', { what: 'the initial route' });

    // ── first failure: pg-a ──
    const rows = await cluster.primary.insertRows(100, 'epoch-0');
    cluster.primary.kill9();
    await pollUntil(async () => (await api(follower).get('/failover/orders-db/primary')).body?.epoch === 1, { what: 'epoch 1', timeoutMs: 10_000 });
    const b = cluster.node('pg-b');
    const c = cluster.node('pg-c');
    expect((await api(follower).get('/failover/orders-db/primary')).body).toMatchObject({ primary: 'pg-b', epoch: 1, updatedBy: leader });
    expect(await b.isInRecovery()).toBe(false);
    expect(await c.isInRecovery()).toBe(true);
    // The follower follows the route.
    await pollUntil(async () => (await view(follower)).primary === 'pg-b', { what: `${follower} to adopt the route` });
    expect(await view(follower)).toMatchObject({ leader: false, primary: 'pg-b', epoch: 1, fenced: [{ member: 'pg-a' }] });
    const triggered = await eventsOf(nc, topology.eventStream, 'FailoverTriggered');
    expect(triggered).toHaveLength(1);
    expect(triggered[0]!.data).toMatchObject({ toInstance: 'pg-b', epoch: 1, decidedBy: leader });
    await pollUntil(async () => (await eventsOf(nc, topology.eventStream, 'FailoverCompleted')).length === 1, { what: 'one FailoverCompleted' });
    expect((await eventsOf(nc, topology.eventStream, 'FailoverCompleted'))[0]!.data).toMatchObject({ fromInstance: 'pg-a', newPrimary: 'pg-b', decidedBy: leader, planned: false });
    // pg-c was re-pointed at the new primary and streams from it.
    const moreRows = await b.insertRows(100, 'epoch-1');
    await c.waitForReplay(await b.currentLsn(), 10_000);

    // ── the leader instance dies without releasing its lease ──
    const killedAt = Date.now();
    await procs[leader]!.stop('SIGKILL');
    await pollUntil(async () => (await view(follower)).leader, { what: `${follower} to take the lease`, timeoutMs: LEASE_TTL_MS * 3, intervalMs: 20 });
    const takeover = Date.now() - killedAt;
    // The key expires at most one TTL after the last renewal; the follower tries every TTL/6. The
    // margin is for a shared two-core machine (HTTP polling, process scheduling).
    expect(takeover).toBeLessThan(LEASE_TTL_MS * 2);

    // ── second failure: pg-b, handled by the survivor ──
    b.kill9();
    const route = await pollUntil(async () => {
      const body = (await api(follower).get('/failover/orders-db/primary')).body;
      return body?.epoch === 2 ? body : null;
    }, { what: 'epoch 2', timeoutMs: 10_000 });
    expect(route).toMatchObject({ primary: 'pg-c', epoch: 2, updatedBy: follower, fenced: expect.arrayContaining([expect.objectContaining({ member: 'pg-a' }), expect.objectContaining({ member: 'pg-b', formerEpoch: 1 })]) });
    expect(await c.isInRecovery()).toBe(false);
    expect(await c.readRowIds()).toEqual(expect.arrayContaining([...rows, ...moreRows]));
    const second = (await eventsOf(nc, topology.eventStream, 'FailoverTriggered')).filter((e) => e.data.epoch === 2);
    expect(second).toHaveLength(1);
    expect(second[0]!.data).toMatchObject({ fromInstance: 'pg-b', toInstance: 'pg-c', decidedBy: follower });
    // The survivor's own view: pg-b (adopted from the route) last seen healthy before its three failed probes.
    const observed = second[0]!.data.observations!;
    expect(observed.filter((o) => o.member === 'pg-b').map((o) => o.reachable)).toEqual([false, false, false]);
    expect(Date.parse(second[0]!.data.lastHealthyAt!)).toBeLessThan(Date.parse(second[0]!.data.firstFailureAt!));
    expect(observed.find((o) => o.member === 'pg-c')).toMatchObject({ reachable: true, inRecovery: true });
    const completed = await pollUntil(async () => (await eventsOf(nc, topology.eventStream, 'FailoverCompleted')).find((e) => e.data.epoch === 2), { what: 'FailoverCompleted epoch 2' });
    expect(completed.data.rtoMs).toBeLessThan(10_000);
  }, 60_000);
});
