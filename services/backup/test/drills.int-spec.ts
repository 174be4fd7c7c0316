import { existsSync } from 'node:fs';
import { Client } from 'pg';
import { testRunId } from '@continuity/contracts/testing';
import { pollUntil } from '@continuity/messaging/testing';
import { bearer, freePort, ServiceProcess, startServiceProcess } from '@continuity/runtime/testing';
import { drillStagingDir } from '../src/drills/restore-step.js';
import { createTestDatabase, PG_ADMIN_URL, runCli, startWorld, World } from './harness.js';

/**
 * Recovery drills against the real backup service process, a real PostgreSQL backup, real
 * scratch databases on the same server (and one on a port nothing listens on), and the real
 * event stream.
 */
describe('recovery drills (real backup service, PostgreSQL, NATS)', () => {
  let world: World;
  let source: Awaited<ReturnType<typeof createTestDatabase>>;
  let proc: ServiceProcess;
  let base: string;
  let env: Record<string, string>;
  // Scratch databases of this run are named <prefix>_<random>: a prefix of the run's own.
  const prefix = `drill_${testRunId('d').toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 40);

  const scratchDatabases = async () => {
    const c = new Client({ connectionString: PG_ADMIN_URL });
    await c.connect();
    try {
      return (await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${prefix}%`])).rows.map((r) => r.datname);
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    world = await startWorld('drill');
    source = await createTestDatabase('drill_source_test');
    const c = new Client({ connectionString: source.url });
    await c.connect();
    await c.query(`CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
      INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 500) g;
      CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric(12,2));
      INSERT INTO orders (customer_id, total) SELECT 1 + g % 500, g * 1.5 FROM generate_series(1, 2000) g;`);
    await c.end();
    const server = new URL(PG_ADMIN_URL);
    const here = `postgres://postgres@${server.hostname}:${server.port || 5432}`;
    const nowhere = `postgres://postgres@127.0.0.1:${await freePort()}`;
    const resource = (name: string, scratchServer: string) =>
      `  ${name}: { kind: postgres, site: eu-west-1a, connection: "${source.url}", restoreTargets: ["${scratchServer}/${prefix}_*"] }`;
    const policy = (name: string) => `  ${name}-policy: { resource: ${name}, copies: [local-disk, nas, offsite] }`;
    const config = world.configFile(`
resources:
${resource('orders-db', here)}
${resource('orders-slow', here)}
${resource('orders-lost', nowhere)}
${resource('orders-sched', here)}
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1b, medium: nas, path: ${world.root}/nas }
  offsite: { kind: filesystem, site: eu-central-1, medium: tape, path: ${world.root}/offsite }
policies:
${policy('orders-db')}
${policy('orders-slow')}
${policy('orders-lost')}
${policy('orders-sched')}
drills:
  orders-db:
    scratch: ${here}/${prefix}
    targets: { rtoMs: 120000, rpoMs: 3600000 }
    assertions:
      - { name: every customer restored, sql: "SELECT count(*) = 500 FROM customers" }
  orders-slow:
    scratch: ${here}/${prefix}
    targets: { rtoMs: 1, rpoMs: 3600000 }
  orders-lost:
    scratch: ${nowhere}/${prefix}
    stepTimeoutMs: 60000
  orders-sched:
    scratch: ${here}/${prefix}
    schedule: every 24h
`);
    env = { CONTINUITY_NAMESPACE: world.topology.namespace, DATABASE_URL: world.db.url, CONTINUITY_CONFIG: config, NATS_URL: 'nats://127.0.0.1:4222', BACKUP_WAL_ARCHIVE: 'off' };
    proc = await startServiceProcess('backup', env);
    await proc.waitForOutput(`backup listening on http://127.0.0.1:${proc.port}`, 60_000);
    base = `http://127.0.0.1:${proc.port}`;
    for (const name of ['orders-db', 'orders-slow', 'orders-lost']) {
      const { backupId } = (await (await post('/backups', { resource: name })).json()) as any;
      await pollUntil(async () => {
        const b: any = await (await fetch(`${base}/backups/${backupId}`, { headers: bearer('viewer') })).json();
        if (b.state === 'failed') throw new Error(`backup failed: ${JSON.stringify(b.error)}`);
        return b.state === 'created';
      }, { what: `a backup of ${name}`, timeoutMs: 60_000 });
    }
  }, 120_000);

  afterAll(async () => {
    await proc?.stop('SIGTERM');
    for (const name of await scratchDatabases().catch(() => [])) {
      const c = new Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    }
    await source?.drop();
    await world?.close();
  });

  const post = (path: string, body: unknown, role: 'operator' | 'viewer' | null = 'operator') =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(role ? bearer(role) : {}) }, body: JSON.stringify(body) });
  const finished = (drillId: string) =>
    pollUntil(async () => {
      const view: any = await (await fetch(`${base}/drills/${drillId}`, { headers: bearer('viewer') })).json();
      return view.state === 'running' ? null : view;
    }, { what: `drill ${drillId} to end`, timeoutMs: 90_000 });

  it('refuses a drill without the operator role, and one for a resource with no drill configuration', async () => {
    expect((await post('/drills', { resource: 'orders-db' }, null)).status).toBe(401);
    expect((await post('/drills', { resource: 'orders-db' }, 'viewer')).status).toBe(403);
    const unknown = await post('/drills', { resource: 'billing-db' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as any).code).toBe('DRILL.UNKNOWN_RESOURCE');
    const bad = await post('/drills', { resource: 'orders-db', kind: 'teleport' });
    expect(bad.status).toBe(400);
    expect(await scratchDatabases()).toEqual([]);
  });

  it('restores the newest backup into a scratch database, checks it, measures it, drops it and passes', async () => {
    const accepted = await post('/drills', { resource: 'orders-db' });
    expect(accepted.status).toBe(202);
    const { drillId } = (await accepted.json()) as any;
    const view = await finished(drillId);
    expect(view).toMatchObject({ state: 'passed', kind: 'restore', completed: { outcome: 'passed', failedStep: null } });
    const [step] = view.steps;
    expect(step).toMatchObject({ step: 'restore', outcome: 'passed', scratchRemoved: true });
    expect(step.scratchTarget).toContain(`/${prefix}_`);
    expect(step.rtoMs).toBeGreaterThan(0);
    expect(step.rtoMs).toBeLessThanOrEqual(step.durationMs);
    expect(step.rpoMs).toBeGreaterThan(0);
    expect(step.checks).toEqual([
      { name: 'row counts as recorded', ok: true, detail: '2 tables' },
      { name: 'every customer restored', ok: true, detail: 'true' },
    ]);
    expect(view.completed.achieved.rtoMs).toBe(step.rtoMs);
    // Nothing left behind: no scratch database, no staging folder.
    expect(await scratchDatabases()).toEqual([]);
    expect(existsSync(drillStagingDir(drillId))).toBe(false);
    // The saga is on the record, one chain: started → step → completed.
    const started = (await world.events('DrillStarted', 'orders-db')).find((e) => e.data.drillId === drillId)!;
    const stepEvent = (await world.events('DrillStepCompleted', 'orders-db')).find((e) => e.data.drillId === drillId)!;
    const completed = (await world.events('DrillCompleted', 'orders-db')).find((e) => e.data.drillId === drillId)!;
    expect(started.source).toBe('backup');
    expect([stepEvent.causationId, completed.causationId]).toEqual([started.id, started.id]);
    expect(completed.data).toEqual(view.completed);
    // The restore into the scratch database is on the record too, naming the drill.
    const restores = await world.events('RestorePerformed', 'orders-db');
    expect(restores.some((e) => e.data.requestedBy.operator?.includes(drillId))).toBe(true);
  }, 120_000);

  it('fails a drill whose RTO target is below what is achievable, naming the restore step (CLI, exit 1)', async () => {
    const { code, stdout, stderr } = await runCli(['drill', 'orders-slow', '--json'], env);
    expect(code).toBe(1);
    const view = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(view).toMatchObject({ state: 'failed', completed: { outcome: 'failed', failedStep: 'restore' } });
    expect(view.completed.reason).toMatch(/^restore step failed: restore took \d+\.\d s, above the RTO target of 0\.0 s$/);
    expect(view.steps[0]).toMatchObject({ outcome: 'failed', scratchRemoved: true });
    expect(stderr).toContain(`drill ${view.drillId} failed`);
    expect(await scratchDatabases()).toEqual([]);
  }, 120_000);

  it('ends failed with the reason when the scratch server is unreachable, and leaves nothing behind', async () => {
    const { drillId } = (await (await post('/drills', { resource: 'orders-lost' })).json()) as any;
    const view = await finished(drillId);
    expect(view).toMatchObject({ state: 'failed', completed: { failedStep: 'restore' } });
    expect(view.steps[0].reason).toMatch(/cannot prepare database drill_.* at postgres:\/\/postgres@127\.0\.0\.1:\d+\/.*ECONNREFUSED/);
    expect(view.completed.reason).toContain('restore step failed: cannot prepare database');
    expect(view.steps[0].rtoMs).toBeNull();
    expect(await scratchDatabases()).toEqual([]);
    expect(existsSync(drillStagingDir(drillId))).toBe(false);
    // The service is fine afterwards: a drill of another resource still passes.
    const again = await finished(((await (await post('/drills', { resource: 'orders-db' })).json()) as any).drillId);
    expect(again.state).toBe('passed');
  }, 120_000);

  it('runs a scheduled drill once for its slot, claimed in the catalogue like a backup slot', async () => {
    const day = 86_400_000;
    const slot = new Date(Math.floor(Date.now() / day) * day).toISOString();
    const started = await pollUntil(async () => {
      const all = (await world.events('DrillStarted', 'orders-sched')).filter((e) => e.data.trigger === 'schedule');
      return all.length ? all : null;
    }, { what: 'the scheduled drill', timeoutMs: 30_000 });
    expect(started.map((e) => e.data.scheduleSlot)).toEqual([slot]);
    const { rows } = await world.pool.query('SELECT policy, slot FROM backup.schedule_claims WHERE policy = $1', ['drill:orders-sched']);
    expect(rows.map((r) => [r.policy, r.slot.toISOString()])).toEqual([['drill:orders-sched', slot]]);
    // It ran with nothing to restore (no backup of orders-sched was taken): failed, saying so.
    const completed = await pollUntil(async () => (await world.events('DrillCompleted', 'orders-sched')).find((e) => e.data.drillId === started[0]!.data.drillId), { what: 'its end', timeoutMs: 30_000 });
    expect(completed.data).toMatchObject({ outcome: 'failed', failedStep: 'restore', reason: expect.stringContaining('has no recovery point to restore') });
  }, 60_000);

  it('runs one drill per resource at a time', async () => {
    const [a, b] = await Promise.all([post('/drills', { resource: 'orders-db' }), post('/drills', { resource: 'orders-db' })]);
    expect([a.status, b.status].sort()).toEqual([202, 409]);
    const accepted: any = await (a.status === 202 ? a : b).json();
    expect(((await (a.status === 409 ? a : b).json()) as any).code).toBe('DRILL.ALREADY_RUNNING');
    expect((await finished(accepted.drillId)).state).toBe('passed');
  }, 120_000);
});
