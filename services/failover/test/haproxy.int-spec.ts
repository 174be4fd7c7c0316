import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { configYaml, removeFailoverTest, startFailover, writeConfig } from './harness.js';
import { createPgCluster, freePort, PgCluster } from './pg-cluster.js';

const HAPROXY = process.env.HAPROXY_PATH ?? 'haproxy';
const EXAMPLE = join(__dirname, '../../../examples/haproxy.cfg');

/** One statement through HAProxy on `port`: which server answered, and whether it is a standby. */
const through = async (port: number, sql: string, params: unknown[] = []) => {
  const client = new Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 2_000, query_timeout: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const result = await client.query(sql, params);
    const [who] = (await client.query('select inet_server_port() as port, pg_is_in_recovery() as standby')).rows;
    return { rows: result.rows, port: Number(who.port), standby: who.standby as boolean };
  } finally {
    await client.end().catch(() => undefined);
  }
};

/**
 * Debian's haproxy with examples/haproxy.cfg in front of a real primary/standby pair: writes go to
 * the routed primary and reads to the streaming standby; through a failover both keep flowing
 * (writes to the promoted standby, reads falling back to it while no standby is left).
 */
describe('HAProxy with the example configuration through a failover (real PostgreSQL, NATS, haproxy)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let cluster: PgCluster;
  let config: ReturnType<typeof writeConfig>;
  let service: Awaited<ReturnType<typeof startFailover>>;
  let haproxy: ChildProcess | undefined;
  let haproxyLog = '';
  let writePort: number;
  let readPort: number;

  beforeAll(async () => {
    const version = spawnSync(HAPROXY, ['-v'], { encoding: 'utf8' });
    if (version.error || version.status !== 0) {
      throw new Error(`haproxy is not installed (${version.error?.message ?? version.stderr}): apt-get install -y haproxy, or set HAPROXY_PATH`);
    }
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'hx');
    cluster = await createPgCluster({ standbys: 1 });
    config = writeConfig(configYaml(cluster));
    service = await startFailover(topology.namespace, config.file, { FAILOVER_INSTANCE_ID: 'solo' });
    await pollUntil(async () => (await service.get('/failover/orders-db/primary')).status === 200, { what: 'the initial route', timeoutMs: 10_000 });
    [writePort, readPort] = [await freePort(), await freePort()];
    const env = {
      ...process.env,
      PG_WRITE_BIND: `127.0.0.1:${writePort}`,
      PG_READ_BIND: `127.0.0.1:${readPort}`,
      PG_A_ADDR: `127.0.0.1:${cluster.nodes[0]!.port}`,
      PG_B_ADDR: `127.0.0.1:${cluster.nodes[1]!.port}`,
      FAILOVER_ADDR: '127.0.0.1',
      FAILOVER_PORT: new URL(service.base).port,
      CONTINUITY_RESOURCE: 'orders-db',
    };
    const check = spawnSync(HAPROXY, ['-c', '-f', EXAMPLE], { env, encoding: 'utf8' });
    expect(check.status).toBe(0);
    haproxy = spawn(HAPROXY, ['-db', '-f', EXAMPLE], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.stdout!.on('data', (d) => (haproxyLog += d));
    haproxy.stderr!.on('data', (d) => (haproxyLog += d));
    await cluster.primary.insertRows(1, 'setup');
  }, 90_000);

  afterAll(async () => {
    if (haproxy && haproxy.exitCode === null) {
      haproxy.kill('SIGTERM');
      await new Promise((resolve) => haproxy!.once('exit', resolve));
    }
    await removeFailoverTest({ stopService: () => service?.app.close(), cluster, config, nc, topology });
  });

  it('sends writes to the primary and reads to the streaming standby; the checks answer 200/503 as they should', async () => {
    const [a, b] = cluster.nodes as [PgCluster['nodes'][number], PgCluster['nodes'][number]];
    const open = (path: string) => fetch(service.base + path).then((r) => r.status);
    expect(await open('/failover/orders-db/members/pg-a/primary')).toBe(200);
    expect(await open('/failover/orders-db/members/pg-b/primary')).toBe(503);
    await pollUntil(async () => (await open('/failover/orders-db/members/pg-b/replica')) === 200, { what: 'pg-b healthy as a replica' });
    expect(await open('/failover/orders-db/members/pg-a/replica')).toBe(503);
    expect(await open('/failover/orders-db/members/pg-b/replica?maxLagBytes=-1')).toBe(400);
    expect(await open('/failover/orders-db/members/nobody/replica')).toBe(404);
    expect(await open(`/failover/orders-db/members/${'x'.repeat(200)}/primary`)).toBe(400);

    const write = await pollUntil(() => through(writePort, `insert into items (note) values ('via haproxy') returning id`).catch(() => null), { what: `a write through haproxy (log: ${haproxyLog})`, timeoutMs: 10_000 });
    expect(write).toMatchObject({ port: a.port, standby: false });
    const read = await pollUntil(async () => {
      const r = await through(readPort, 'select count(*)::int as n from items').catch(() => null);
      return r?.port === b.port ? r : null;
    }, { what: 'a read served by the standby', timeoutMs: 10_000 });
    expect(read.standby).toBe(true);
  }, 60_000);

  it('keeps writes and reads flowing through a failover: writes land on the promoted standby, reads fall back to it', async () => {
    const [, b] = cluster.nodes as [PgCluster['nodes'][number], PgCluster['nodes'][number]];
    const outcomes: { at: number; kind: 'write' | 'read'; ok: boolean; port?: number; error?: string }[] = [];
    let running = true;
    const loop = async (kind: 'write' | 'read') => {
      while (running) {
        let error: string | undefined;
        const at = Date.now(); // when the statement started
        const result = await (kind === 'write' ? through(writePort, `insert into items (note) values ('during failover')`) : through(readPort, 'select count(*) from items')).catch((e: Error) => ((error = e.message), null));
        outcomes.push({ at, kind, ok: !!result, port: result?.port, error });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const loops = [loop('write'), loop('read')];
    await pollUntil(() => outcomes.filter((o) => o.ok).length >= 4, { what: 'traffic before the failover' });
    const killedAt = Date.now();
    let settledAt = Number.POSITIVE_INFINITY;
    cluster.primary.kill9();
    try {
      await pollUntil(() => outcomes.some((o) => o.kind === 'write' && o.ok && o.port === b.port), { what: `a write on the promoted standby (log: ${haproxyLog.slice(-2000)})`, timeoutMs: 30_000 });
      await pollUntil(() => outcomes.some((o) => o.kind === 'read' && o.ok && o.at > killedAt + 500 && o.port === b.port), { what: 'a read after the failover', timeoutMs: 15_000 });
      // Sessions to pg-b through the replica backend end when its replica check turns 503 (it is a
      // primary now) and HAProxy marks it down there (fall 2 x inter 500 ms): from then on every
      // statement of both kinds must succeed on pg-b.
      await pollUntil(async () => (await fetch(`${service.base}/failover/orders-db/members/pg-b/replica`)).status === 503, { what: 'pg-b no longer a replica' });
      settledAt = Date.now() + 1_500;
      await pollUntil(() => (['write', 'read'] as const).every((kind) => outcomes.filter((o) => o.kind === kind && o.at > settledAt).length >= 5), { what: 'five more statements of each kind' });
    } finally {
      running = false;
      await Promise.all(loops);
    }
    for (const kind of ['write', 'read'] as const) {
      const last = outcomes.filter((o) => o.kind === kind && o.at > settledAt);
      expect(last.length).toBeGreaterThanOrEqual(5);
      expect(last.map((o) => ({ kind: o.kind, ok: o.ok, port: o.port, error: o.error, at: o.at - killedAt }))).toEqual(last.map((o) => ({ kind, ok: true, port: b.port, error: undefined, at: o.at - killedAt })));
    }
    expect(await b.isInRecovery()).toBe(false);
  }, 90_000);
});
