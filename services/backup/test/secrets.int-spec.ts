import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from 'pg';
import { testRunId } from '@continuity/contracts/testing';
import { pollUntil } from '@continuity/messaging/testing';
import { startPostgresSource } from '../src/backup-run/sources/postgres.source.js';
import { LocationRegistry } from '../src/backup-run/locations/location.registry.js';
import { childProcessesNamed, createTestDatabase, createTestRole, databaseUrl, PG_ADMIN_URL, seedDatabase, startWorld, TestRole, World } from './harness.js';

/**
 * Passwords in connection strings never reach a command line (readable by every local user) nor
 * a BackupFailed, the catalogue or the log. Local PostgreSQL trusts `host` connections, so a wrong
 * password would still work: the argv is checked directly, in /proc, while the program runs.
 */
describe('secrets stay out of argv, events, the catalogue and logs (real PostgreSQL, NATS)', () => {
  let world: World;
  let role: TestRole;
  let source: Awaited<ReturnType<typeof createTestDatabase>>;

  beforeAll(async () => {
    world = await startWorld('bksec');
    role = await createTestRole();
    source = await createTestDatabase('backup_test_sec');
    await role.own(source.name);
    await seedDatabase(role.url(source.name));
  });

  const restoredDatabases: string[] = [];

  afterAll(async () => {
    for (const name of restoredDatabases) await dropDatabase(name);
    await source?.drop();
    await role?.drop();
    await world?.close();
  });

  it('pg_dump gets --dbname without the password and PGPASSWORD in its environment', async () => {
    // Holds pg_dump still where it can be looked at: an exclusive lock request queued behind the
    // snapshot session's share lock makes pg_dump's own share lock request wait (see LOCK_WAIT_TIMEOUT_MS).
    const blocker = new Client({ connectionString: source.url });
    await blocker.connect();
    const blockerPid = (await blocker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    let locking: Promise<unknown> = Promise.resolve();
    const run = await startPostgresSource(
      { kind: 'postgres', site: 'eu-west-1a', connection: role.url(source.name, { withPassword: true }) },
      {
        beforeDump: async () => {
          locking = blocker.query('BEGIN; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE').catch((error: Error) => error);
          await pollUntil(() => waitingForLock(blockerPid), { what: 'the exclusive lock request to queue' });
        },
      },
    );
    let bytes = 0;
    const draining = pipeline(run.stream, new Writable({ write: (chunk: Buffer, _e, done) => ((bytes += chunk.length), done()) }));
    const pgDump = await pollUntil(() => childProcessesNamed('pg_dump').find((p) => p.argv.includes('--format=custom')), { what: 'pg_dump to be running' });
    expect(pgDump.argv.join(' ')).not.toContain(role.password);
    expect(pgDump.argv).toContain(`--dbname=${role.url(source.name)}`);
    expect(pgDump.environ).toContain(`PGPASSWORD=${role.password}`);

    const admin = new Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query('SELECT pg_cancel_backend($1)', [blockerPid]).finally(() => admin.end());
    expect(String(await locking)).toMatch(/canceling statement/);
    await blocker.end();
    await draining;
    await run.done();
    expect(bytes).toBeGreaterThan(10_000);
    expect(run.index().tables).toContainEqual({ schema: 'public', name: 'orders', rows: 5000 });
  });

  it('pg_restore gets --dbname without the password and PGPASSWORD in its environment; the restore works', async () => {
    const config = await world.config(`
resources:
  orders-db:
    kind: postgres
    site: eu-west-1a
    connection: "${role.url(source.name, { withPassword: true })}"
    restoreTargets: ["${role.url(`${source.name}_r*`)}"]
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
policies:
  orders: { resource: orders-db, copies: [local-disk], threeTwoOne: { optOut: "a test of secrets" } }
`);
    const outcome = await (await world.runner(config).start('orders-db', { trigger: 'test' })).done;
    if (outcome.state !== 'created') throw new Error(`backup failed: ${outcome.reason}`);
    const locations = new LocationRegistry(config, world.nc);
    const restorer = world.restorer(config, (name) => locations.get(name));
    const target = `${source.name}_r1`;
    restoredDatabases.push(target);
    const to = role.url(target, { withPassword: true });
    try {
      await restorer.restore({ backupId: outcome.backupId, to });

      // Again over it (clean), held where it can be looked at: a reader's share lock keeps
      // pg_restore's DROP TABLE waiting.
      const reader = new Client({ connectionString: databaseUrl(target) });
      await reader.connect();
      await reader.query('BEGIN; SELECT 1 FROM customers LIMIT 1');
      const restoring = restorer.restore({ backupId: outcome.backupId, to, clean: true });
      restoring.catch(() => undefined);
      const pgRestore = await pollUntil(() => childProcessesNamed('pg_restore').find((p) => p.argv.includes('--clean')), { what: 'pg_restore to be running' });
      await reader.query('COMMIT').finally(() => reader.end());
      expect(pgRestore.argv.join(' ')).not.toContain(role.password);
      expect(pgRestore.argv).toContain(`--dbname=${role.url(target)}`);
      expect(pgRestore.environ).toContain(`PGPASSWORD=${role.password}`);
      await restoring;
      const events = (await world.events('RestorePerformed')).filter((e) => e.data.backupId === outcome.backupId);
      expect(events.map((e) => [e.data.outcome, e.data.overwritten, e.data.target])).toEqual([
        ['restored', false, role.url(target).replace('@', ':***@')],
        ['restored', true, role.url(target).replace('@', ':***@')],
      ]);
      expect(JSON.stringify(events)).not.toContain(role.password);
    } finally {
      await locations.close();
    }
  });

  it('a failing backup names its locations and tools without their passwords: BackupFailed, the catalogue and the log', async () => {
    const natsPassword = `nats-${testRunId('pw')}`;
    const config = await world.config(`
resources:
  orders-db: { kind: postgres, site: eu-west-1a, connection: "${role.url(source.name, { withPassword: true })}" }
  missing-db: { kind: postgres, site: eu-west-1a, connection: "${role.url('backup_test_sec_missing', { withPassword: true })}" }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  remote: { kind: object-store, site: eu-central-1, bucket: unused, natsUrl: "nats://backup:${natsPassword}@127.0.0.1:1" }
policies:
  orders: { resource: orders-db, copies: [local-disk, remote], threeTwoOne: { optOut: "a test of failures" } }
  missing: { resource: missing-db, copies: [local-disk], threeTwoOne: { optOut: "a test of failures" } }
`);
    const logged: string[] = [];
    const logger = { log: (m: string) => logged.push(m), warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) };
    const runner = world.runner(config, { logger });

    const unreachable = await (await runner.start('orders-db', { trigger: 'test' })).done;
    expect(unreachable).toMatchObject({ state: 'failed', stage: 'copy', reason: expect.stringContaining('NATS at nats://backup:***@127.0.0.1:1 is not reachable') });
    const missing = await (await runner.start('missing-db', { trigger: 'test' })).done;
    expect(missing).toMatchObject({ state: 'failed', stage: 'source', reason: expect.stringMatching(/pg_dump exited with 1: .*backup_test_sec_missing.* does not exist/) });

    for (const outcome of [unreachable, missing]) {
      const event = await pollUntil(async () => (await world.events('BackupFailed')).find((e) => e.data.backupId === outcome.backupId), { what: 'BackupFailed' });
      const recorded = await world.catalogue.get(outcome.backupId);
      for (const text of [JSON.stringify(event), JSON.stringify(recorded), logged.join('\n')]) {
        expect(text).not.toContain(natsPassword);
        expect(text).not.toContain(role.password);
      }
    }
  });
});

const waitingForLock = async (pid: number) => {
  const c = new Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return (await c.query(`SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted`, [pid])).rowCount === 1;
  } finally {
    await c.end();
  }
};

const dropDatabase = async (name: string) => {
  if (!name.includes('test')) throw new Error(`refusing to drop database ${name}: its name lacks "test"`);
  const c = new Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).finally(() => c.end());
};
