import { Client } from 'pg';
import { testRunId } from '@continuity/contracts/testing';
import { pollUntil } from '@continuity/messaging/testing';
import { bearer, createPgCluster, PgCluster, ServiceProcess, startServiceProcess } from '@continuity/runtime/testing';
import { PG_ADMIN_URL, startWorld, World } from './harness.js';

/**
 * A full drill on a real primary/standby pair (initdb clusters) with a real backup: the backup and
 * failover services as real processes on one configuration file, talking only through events.
 */
describe('full drill on a real primary/standby pair (backup and failover processes, PostgreSQL, NATS)', () => {
  let world: World;
  let cluster: PgCluster;
  let backup: ServiceProcess;
  let failover: ServiceProcess;
  let base: string;
  const prefix = `drillfo_${testRunId('f').toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 40);
  const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer('operator') }, body: JSON.stringify(body) });
  const get = async (path: string): Promise<any> => (await fetch(`${base}${path}`, { headers: bearer('viewer') })).json();

  beforeAll(async () => {
    world = await startWorld('drfo');
    cluster = await createPgCluster({ standbys: 1 });
    const c = new Client({ connectionString: cluster.primary.url });
    await c.connect();
    await c.query(`CREATE TABLE orders (id serial PRIMARY KEY, note text); INSERT INTO orders (note) SELECT 'order ' || g FROM generate_series(1, 300) g;`);
    await c.end();
    const server = new URL(PG_ADMIN_URL);
    const here = `postgres://postgres@${server.hostname}:${server.port || 5432}`;
    const config = world.configFile(`
resources:
  orders-db: { kind: postgres, site: eu-west-1a, connection: "${cluster.primary.url}", restoreTargets: ["${here}/${prefix}_*"] }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1b, medium: nas, path: ${world.root}/nas }
  offsite: { kind: filesystem, site: eu-central-1, medium: tape, path: ${world.root}/offsite }
policies:
  orders-policy: { resource: orders-db, copies: [local-disk, nas, offsite] }
drills:
  orders-db:
    kind: full
    scratch: ${here}/${prefix}
    targets: { rtoMs: 120000, rpoMs: 3600000 }
    stepTimeoutMs: 90000
    failover: { standby: ${cluster.nodes[1]!.name}, switchBack: true }
failover:
  leaseTtlMs: 2000
  resources:
    orders-db:
      maxLagBytes: 16777216
      mode: manual
      probeIntervalMs: 500
      failuresBeforeFailover: 3
      switchoverTimeoutMs: 30000
      members:
${cluster.nodes.map((n, i) => `        - { name: ${n.name}, connection: "${n.url}", role: ${i === 0 ? 'primary' : 'standby'} }`).join('\n')}
`);
    const env = { CONTINUITY_NAMESPACE: world.topology.namespace, DATABASE_URL: world.db.url, CONTINUITY_CONFIG: config, NATS_URL: 'nats://127.0.0.1:4222', BACKUP_WAL_ARCHIVE: 'off' };
    failover = await startServiceProcess('failover', env);
    await failover.waitForOutput(`failover listening on http://127.0.0.1:${failover.port}`, 60_000);
    await pollUntil(async () => (await fetch(`http://127.0.0.1:${failover.port}/failover/orders-db/primary`, { headers: bearer('viewer') })).status === 200, { what: 'the initial route', timeoutMs: 20_000 });
    backup = await startServiceProcess('backup', env);
    await backup.waitForOutput(`backup listening on http://127.0.0.1:${backup.port}`, 60_000);
    base = `http://127.0.0.1:${backup.port}`;
    const { backupId } = (await (await post('/backups', { resource: 'orders-db' })).json()) as any;
    await pollUntil(async () => {
      const b = await get(`/backups/${backupId}`);
      if (b.state === 'failed') throw new Error(`backup failed: ${JSON.stringify(b.error)}`);
      return b.state === 'created';
    }, { what: 'the backup', timeoutMs: 60_000 });
  }, 180_000);

  afterAll(async () => {
    await backup?.stop('SIGTERM');
    await failover?.stop('SIGTERM');
    await cluster?.remove();
    await world?.close();
  });

  it('switches over to the standby (clients routed), restores and checks the data, and passes with measured RTO/RPO', async () => {
    const accepted = await post('/drills', { resource: 'orders-db' });
    expect(accepted.status).toBe(202);
    const { drillId } = (await accepted.json()) as any;
    const view = await pollUntil(async () => {
      const v = await get(`/drills/${drillId}`);
      return v.state === 'running' ? null : v;
    }, { what: 'the full drill to end', timeoutMs: 150_000 });
    expect(view.steps.map((s: any) => [s.step, s.outcome, s.reason])).toEqual([
      ['failover', 'passed', null],
      ['restore', 'passed', null],
    ]);
    const [switched, restored] = view.steps;
    expect(switched).toMatchObject({ standby: cluster.nodes[1]!.name, dataLostBytes: 0, rpoMs: 0 });
    expect(switched.rtoMs).toBeGreaterThan(0);
    expect(restored).toMatchObject({ scratchRemoved: true, checks: [{ name: 'row counts as recorded', ok: true, detail: '1 tables' }] });
    expect(view.completed).toMatchObject({ outcome: 'passed', kind: 'full', failedStep: null });
    // A full drill's RTO is the whole recovery: disaster declared to clients routed and data checked.
    expect(view.completed.recoveredMs).toBeGreaterThanOrEqual(switched.rtoMs + restored.rtoMs);
    expect(view.completed.achieved.rtoMs).toBe(view.completed.recoveredMs);
    // Clients are routed to the standby now.
    const route: any = await (await fetch(`http://127.0.0.1:${failover.port}/failover/orders-db/primary`, { headers: bearer('viewer') })).json();
    expect(route.primary).toBe(cluster.nodes[1]!.name);
    const answers = await world.events('FailoverRehearsed', 'orders-db');
    expect(answers).toHaveLength(1);
    expect(answers[0]!.data).toMatchObject({ drillId, outcome: 'completed', from: cluster.nodes[0]!.name, to: cluster.nodes[1]!.name });
    // The switchover fenced the former primary: the way back waits for its rebuild, and says so.
    expect(answers[0]!.data.switchBack).toMatchObject({ outcome: 'skipped', rtoMs: null, reason: expect.stringContaining(cluster.nodes[0]!.name) });
  }, 180_000);
});
