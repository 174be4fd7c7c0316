import type { NatsConnection } from '@nats-io/transport-node';
import { Client } from 'pg';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import type { RouteRecord } from '@continuity/contracts';
import { configYaml, eventsOf, startFailover, writeConfig, removeFailoverTest } from './harness.js';
import { createPgCluster, PgCluster, PgNode } from './pg-cluster.js';

/** A session on `node` with no timeouts of its own: a commit waiting for a standby just waits. */
const session = async (node: PgNode) => {
  const client = new Client({ connectionString: node.url, application_name: 'sync-test-client' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
};

const syncStateOf = async (primary: PgNode) =>
  primary.query<{ name: string; sync_state: string }>('select application_name as name, sync_state from pg_stat_replication order by 1');

type Harness = {
  nc: NatsConnection;
  topology: Awaited<ReturnType<typeof createTestTopology>>;
  cluster: PgCluster;
  config: ReturnType<typeof writeConfig>;
  service: Awaited<ReturnType<typeof startFailover>>;
};

/** A synchronous resource on a fresh cluster, its service leading and its first synchronous standby named and confirmed. */
const setUp = async (standbys: number, instance: string, options: { relaxSynchronousAfterMs?: number } = {}): Promise<Harness & { synchronousStandby: string }> => {
  const h = {} as Harness;
  h.nc = await connectTestNats();
  h.topology = await createTestTopology(h.nc, 'fos');
  h.cluster = await createPgCluster({ standbys });
  h.config = writeConfig(configYaml(h.cluster, { synchronous: true, ...options }));
  h.service = await startFailover(h.topology.namespace, h.config.file, { FAILOVER_INSTANCE_ID: instance });
  const [named] = await pollUntil(async () => {
    const all = await eventsOf(h.nc, h.topology.eventStream, 'SynchronousReplicationChanged');
    return all.length ? all : null;
  }, { what: 'the first SynchronousReplicationChanged', timeoutMs: 15_000 });
  const synchronousStandby = named!.data.synchronousStandby!;
  // Confirmed: the primary reports it sync, and the service has seen it so.
  await pollUntil(async () => (await h.service.get('/failover/orders-db')).body.synchronous?.confirmed === synchronousStandby, { what: `${synchronousStandby} confirmed synchronous`, timeoutMs: 10_000 });
  return { ...h, synchronousStandby };
};

const tearDown = (h: Partial<Harness>) =>
  removeFailoverTest({ stopService: () => h.service?.app.close(), cluster: h.cluster, config: h.config, nc: h.nc, topology: h.topology });

describe('synchronous: true, a primary and two standbys: zero-loss failover', () => {
  let h: Harness & { synchronousStandby: string };

  beforeAll(async () => {
    h = await setUp(2, 'sync');
  }, 90_000);

  afterAll(() => tearDown(h ?? {}));

  it('names one streaming standby in synchronous_standby_names and says so', async () => {
    const [named] = await eventsOf(h.nc, h.topology.eventStream, 'SynchronousReplicationChanged');
    expect(named).toMatchObject({
      resource: 'orders-db',
      source: 'failover',
      data: { primary: 'pg-a', mode: 'synchronous', synchronousStandby: h.synchronousStandby, previousStandby: null, setting: `FIRST 1 ("${h.synchronousStandby}")`, epoch: 0 },
    });
    expect((await h.cluster.primary.query<{ s: string }>("select current_setting('synchronous_standby_names') as s"))[0]!.s).toBe(`FIRST 1 ("${h.synchronousStandby}")`);
    expect(await syncStateOf(h.cluster.primary)).toEqual(
      ['pg-b', 'pg-c'].map((name) => ({ name, sync_state: name === h.synchronousStandby ? 'sync' : 'async' })),
    );
  });

  it('loses no commit the client saw acknowledged when the primary is killed under one-row commits, promoting the synchronous standby', async () => {
    const a = h.cluster.primary;
    await a.query('create table if not exists items (id bigserial primary key, note text not null, at timestamptz not null default now())');
    const client = await session(a);
    const acknowledged: number[] = [];
    let stopped: unknown = null;
    // One row per transaction (autocommit); an id is recorded only once its COMMIT has returned.
    const writer = (async () => {
      try {
        for (;;) acknowledged.push(Number((await client.query<{ id: string }>("insert into items (note) values ('sync') returning id")).rows[0]!.id));
      } catch (error) {
        stopped = error;
      }
    })();
    await pollUntil(() => acknowledged.length >= 300, { what: '300 acknowledged commits', timeoutMs: 30_000, intervalMs: 10 });
    a.kill9();
    await writer;
    expect(stopped).not.toBeNull();
    await client.end().catch(() => undefined);

    const route = await pollUntil(async () => {
      const { status, body } = await h.service.get('/failover/orders-db/primary');
      return status === 200 && body.epoch === 1 ? (body as RouteRecord) : null;
    }, { what: 'the failover', timeoutMs: 15_000, intervalMs: 50 });
    expect(route.primary).toBe(h.synchronousStandby);

    const promoted = h.cluster.node(h.synchronousStandby);
    const present = new Set(await promoted.readRowIds());
    const missing = acknowledged.filter((id) => !present.has(id));
    expect({ acknowledged: acknowledged.length, missing }).toEqual({ acknowledged: acknowledged.length, missing: [] });

    const [triggered] = await eventsOf(h.nc, h.topology.eventStream, 'FailoverTriggered');
    const other = h.synchronousStandby === 'pg-b' ? 'pg-c' : 'pg-b';
    expect(triggered!.data).toMatchObject({ fromInstance: 'pg-a', toInstance: h.synchronousStandby, epoch: 1 });
    expect(triggered!.data.reason).toContain(`synchronous mode: only ${h.synchronousStandby}, the synchronous standby, holds every acknowledged commit`);
    expect(triggered!.data.candidates).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ instance: h.synchronousStandby, eligible: true }),
        expect.objectContaining({ instance: other, eligible: false, reason: `not the synchronous standby (${h.synchronousStandby} is): it may lack acknowledged commits` }),
      ]),
    );

    // The new primary starts relaxed (its copied setting reset) and names the remaining standby once it streams from it.
    const renamed = await pollUntil(
      async () => (await eventsOf(h.nc, h.topology.eventStream, 'SynchronousReplicationChanged')).find((e) => e.data.primary === h.synchronousStandby && e.data.mode === 'synchronous'),
      // Re-pointing the other standby restarts it: generous on a loaded 2-core machine.
      { what: `${other} named synchronous on ${h.synchronousStandby}`, timeoutMs: 45_000 },
    );
    expect(renamed.data).toMatchObject({ synchronousStandby: other, epoch: 1 });
    await pollUntil(async () => (await syncStateOf(promoted)).some((r) => r.name === other && r.sync_state === 'sync'), { what: `${other} reported sync by ${h.synchronousStandby}`, timeoutMs: 20_000 });
  }, 120_000);
});

describe('synchronous: true, a primary and its only standby', () => {
  const RELAX_AFTER_MS = 2_000;
  let h: Harness & { synchronousStandby: string };

  beforeAll(async () => {
    h = await setUp(1, 'sync-one', { relaxSynchronousAfterMs: RELAX_AFTER_MS });
  }, 90_000);

  afterAll(() => tearDown(h ?? {}));

  it('blocks commits while the standby is down, relaxes within the bound (announced, naming why), then restores when it is back', async () => {
    const a = h.cluster.primary;
    const b = h.cluster.node('pg-b');
    expect(h.synchronousStandby).toBe('pg-b');
    await a.insertRows(1, 'table exists');

    const stoppedAt = Date.now();
    await b.stop('fast');
    const client = await session(a);
    let committedAt: number | null = null;
    const commit = client.query("insert into items (note) values ('while pg-b is down') returning id").then((r) => {
      committedAt = Date.now();
      return Number(r.rows[0]!.id);
    });
    // Before the relax the commit waits for the synchronous standby (PostgreSQL's SyncRep wait).
    await pollUntil(
      async () => (await a.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where application_name = 'sync-test-client' and wait_event = 'SyncRep'"))[0]!.n === 1,
      { what: 'the commit waiting for pg-b (wait_event SyncRep)', timeoutMs: RELAX_AFTER_MS, intervalMs: 20 },
    );
    expect(committedAt).toBeNull();

    // Then the service relaxes and the commit returns, within the relax delay plus a few probe rounds.
    const id = await commit;
    await client.end();
    const blockedFor = committedAt! - stoppedAt;
    expect(blockedFor).toBeLessThan(RELAX_AFTER_MS + 3_000);
    expect((await a.readRowIds()).includes(id)).toBe(true);
    expect((await a.query<{ s: string }>("select current_setting('synchronous_standby_names') as s"))[0]!.s).toBe('');
    // Further writes go on at once.
    expect(await a.insertRows(10, 'relaxed')).toHaveLength(10);

    const relaxed = await pollUntil(async () => (await eventsOf(h.nc, h.topology.eventStream, 'SynchronousReplicationChanged')).find((e) => e.data.mode === 'relaxed'), {
      what: 'SynchronousReplicationChanged (relaxed)',
      timeoutMs: 5_000,
    });
    expect(relaxed).toMatchObject({
      resource: 'orders-db',
      source: 'failover',
      data: { primary: 'pg-a', mode: 'relaxed', synchronousStandby: null, previousStandby: 'pg-b', setting: '', standbys: [{ member: 'pg-b', streaming: false, eligible: false }] },
    });
    expect(relaxed.data.reason).toMatch(
      new RegExp(`^no standby can acknowledge commits \\(pg-b: not connected to pg-a\\); commits waited \\d+ ms \\(limit ${RELAX_AFTER_MS} ms\\), so pg-a acknowledges them without a standby until one is back$`),
    );
    // Not before the delay (less a probe's duration: a probe dates its observation from its start).
    expect(Date.parse(relaxed.occurredAt) - stoppedAt).toBeGreaterThanOrEqual(RELAX_AFTER_MS - 500);
    expect((await h.service.get('/failover/orders-db')).body.synchronous).toMatchObject({ named: [], confirmed: null, relaxedSince: expect.any(String) });

    // The standby is back: synchronous again, announced, and the primary reports it sync.
    await b.start();
    const restored = await pollUntil(async () => (await eventsOf(h.nc, h.topology.eventStream, 'SynchronousReplicationChanged')).slice(2).find((e) => e.data.mode === 'synchronous'), {
      what: 'SynchronousReplicationChanged (restored)',
      timeoutMs: 15_000,
    });
    expect(restored.data).toMatchObject({ primary: 'pg-a', synchronousStandby: 'pg-b', previousStandby: null, setting: 'FIRST 1 ("pg-b")', reason: 'pg-b streams to pg-a: commits wait for it again (synchronous replication restored)' });
    await pollUntil(async () => (await syncStateOf(a)).some((r) => r.name === 'pg-b' && r.sync_state === 'sync'), { what: 'pg-b reported sync', timeoutMs: 10_000 });
    await pollUntil(async () => (await h.service.get('/failover/orders-db')).body.synchronous?.confirmed === 'pg-b', { what: 'pg-b confirmed again', timeoutMs: 5_000 });
    expect((await h.service.get('/failover/orders-db')).body.synchronous.relaxedSince).toBeNull();
  });
});
