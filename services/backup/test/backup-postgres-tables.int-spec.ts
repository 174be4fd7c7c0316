import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { testRunId } from '@continuity/contracts/testing';
import { pollUntil } from '@continuity/messaging/testing';
import { startPostgresSource } from '../src/backup-run/sources/postgres.source.js';
import { createTestDatabase, databaseUrl, PG_ADMIN_URL, startWorld, World } from './harness.js';

const run = promisify(execFile);

/** The rows of every table the way pg_dump dumps them (ONLY the table itself), by "schema"."name". */
const ownRows = async (url: string): Promise<Record<string, number>> => {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const { rows: tables } = await c.query<{ schema: string; name: string }>(
      `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`,
    );
    const out: Record<string, number> = {};
    for (const t of tables) {
      const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
      out[`${t.schema}.${t.name}`] = Number((await c.query(`SELECT count(*)::int AS n FROM ONLY ${q(t.schema)}.${q(t.name)}`)).rows[0].n);
    }
    return out;
  } finally {
    await c.end();
  }
};

describe('PostgreSQL backups record every table with its exact row count, in the dump\'s own snapshot', () => {
  let world: World;
  let source: Awaited<ReturnType<typeof createTestDatabase>>;

  beforeAll(async () => {
    world = await startWorld('bktb');
    source = await createTestDatabase('backup_test_tables');
    const c = new Client({ connectionString: source.url });
    await c.connect();
    await c.query(`
      CREATE SCHEMA "Sales Ops";
      CREATE TABLE "Sales Ops"."Weird Name" (id int);
      INSERT INTO "Sales Ops"."Weird Name" SELECT generate_series(1, 7);
      CREATE TABLE "quote""d" (id int);
      INSERT INTO "quote""d" VALUES (1), (2);
      CREATE TABLE orders (id bigserial PRIMARY KEY, note text);
      INSERT INTO orders (note) SELECT 'order ' || g FROM generate_series(1, 1000) g;
      CREATE TABLE empty_one (id int);
      CREATE TABLE measurements (at date NOT NULL, v int) PARTITION BY RANGE (at);
      CREATE TABLE measurements_2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
      CREATE TABLE measurements_2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
      CREATE TABLE measurements_rest PARTITION OF measurements DEFAULT;
      INSERT INTO measurements SELECT date '2025-06-01' + g, g FROM generate_series(1, 300) g;
      INSERT INTO measurements VALUES ('2030-01-01', 0);
      CREATE TABLE parent_log (id int);
      CREATE TABLE child_log () INHERITS (parent_log);
      INSERT INTO parent_log SELECT generate_series(1, 5);
      INSERT INTO child_log SELECT generate_series(1, 8);
      CREATE UNLOGGED TABLE cache (k text);
      INSERT INTO cache VALUES ('a'), ('b'), ('c'), ('d');
      CREATE MATERIALIZED VIEW order_notes AS SELECT note FROM orders;
      CREATE VIEW recent_orders AS SELECT * FROM orders WHERE id > 900;
    `);
    await c.end();
  });

  afterAll(async () => {
    await source?.drop();
    await world?.close();
  });

  const configYaml = (connection: string) => `
resources:
  shop-db: { kind: postgres, site: eu-west-1a, connection: "${connection}" }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1b, medium: nas, path: ${world.root}/nas }
policies:
  shop-nightly: { resource: shop-db, copies: [local-disk, nas], threeTwoOne: { optOut: "test" } }
`;
  const manifestsOf = async (backupId: string) => {
    const record = (await world.catalogue.get(backupId))!;
    return record.copies.map((copy) => JSON.parse(readFileSync(fileURLToPath(copy.manifestUri), 'utf8')));
  };

  it('lists every dumped table (odd names, partitions, inheritance children, unlogged) sorted, with its rows; not views, temp or partitioned parents\' rows', async () => {
    // Another session's temporary table is in pg_class, but pg_dump does not dump it.
    const other = new Client({ connectionString: source.url });
    await other.connect();
    await other.query('CREATE TEMP TABLE session_scratch AS SELECT generate_series(1, 3) AS n');
    try {
      const { done } = await world.runner(await world.config(configYaml(source.url))).start('shop-db', { trigger: 'test' });
      const outcome = await done;
      if (outcome.state !== 'created') throw new Error(`backup failed: ${outcome.reason}`);
      const manifests = await manifestsOf(outcome.backupId);
      expect(manifests).toHaveLength(2);
      expect(manifests[1].tables).toEqual(manifests[0].tables); // every copy records them
      expect(manifests[0].tablesNotRecorded).toBeUndefined();
      expect(manifests[0].tables).toEqual([
        { schema: 'Sales Ops', name: 'Weird Name', rows: 7 },
        { schema: 'public', name: 'cache', rows: 4 },
        { schema: 'public', name: 'child_log', rows: 8 },
        { schema: 'public', name: 'empty_one', rows: 0 },
        { schema: 'public', name: 'measurements', rows: null },
        { schema: 'public', name: 'measurements_2025', rows: 213 },
        { schema: 'public', name: 'measurements_2026', rows: 87 },
        { schema: 'public', name: 'measurements_rest', rows: 1 },
        { schema: 'public', name: 'orders', rows: 1000 },
        { schema: 'public', name: 'parent_log', rows: 5 },
        { schema: 'public', name: 'quote"d', rows: 2 },
      ]);
    } finally {
      await other.end();
    }
  });

  it('counts in the snapshot pg_dump dumps: rows committed while the backup runs are in neither, and the restored counts equal the recorded ones', async () => {
    // A writer committing one row at a time into two tables for the whole backup.
    const writer = new Client({ connectionString: source.url });
    await writer.connect();
    let writing = true;
    let written = 0;
    const writes = (async () => {
      while (writing) {
        await writer.query(`INSERT INTO orders (note) VALUES ('during'); INSERT INTO "Sales Ops"."Weird Name" VALUES (0)`);
        written++;
      }
    })();
    const target = `backup_test_tables_restored_${testRunId('r')}`.toLowerCase();
    try {
      while (written < 20) await new Promise((resolve) => setTimeout(resolve, 5));
      const { done } = await world.runner(await world.config(configYaml(source.url))).start('shop-db', { trigger: 'test' });
      const outcome = await done;
      if (outcome.state !== 'created') throw new Error(`backup failed: ${outcome.reason}`);
      const before = written;
      while (written < before + 20) await new Promise((resolve) => setTimeout(resolve, 5));
      writing = false;
      await writes;

      const [manifest] = await manifestsOf(outcome.backupId);
      const recorded = Object.fromEntries(manifest.tables.filter((t: { rows: number | null }) => t.rows !== null).map((t: { schema: string; name: string; rows: number }) => [`${t.schema}.${t.name}`, t.rows]));
      const admin = new Client({ connectionString: PG_ADMIN_URL });
      await admin.connect();
      await admin.query(`CREATE DATABASE "${target}"`);
      await admin.end();
      const copy = fileURLToPath((await world.catalogue.get(outcome.backupId))!.copies[0]!.uri);
      await run('pg_restore', ['--no-owner', '--exit-on-error', `--dbname=${databaseUrl(target)}`, copy]);
      expect(await ownRows(databaseUrl(target))).toEqual(recorded);
      // The writer kept going while the backup ran: the source has more rows now than recorded.
      const now = await ownRows(source.url);
      expect(recorded['public.orders']).toBeGreaterThan(1000);
      expect(now['public.orders']).toBeGreaterThan(recorded['public.orders']);
      expect(now['public.orders']! - 1000).toBe(written);
      expect(recorded['Sales Ops.Weird Name']! - 7).toBe(recorded['public.orders']! - 1000); // same moment for both tables
    } finally {
      writing = false;
      await writes.catch(() => undefined);
      await writer.end();
      const admin = new Client({ connectionString: PG_ADMIN_URL });
      await admin.connect();
      if (target.includes('test')) await admin.query(`DROP DATABASE IF EXISTS "${target}" WITH (FORCE)`);
      await admin.end();
    }
  });

  it('commits and closes the counting session when the backup is done (no session left behind)', async () => {
    const { done } = await world.runner(await world.config(configYaml(source.url))).start('shop-db', { trigger: 'test' });
    expect((await done).state).toBe('created');
    const admin = new Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'continuity-backup'`, [source.name]);
    await admin.end();
    expect(rows[0].n).toBe(0);
  });

  it.each([
    ['', 'note', {}],
    [', in English when the service\'s environment asks for German messages (LC_ALL, LANGUAGE)', 'note_de', { LC_ALL: 'C.UTF-8', LANGUAGE: 'de' }],
  ])('gives way, naming why, when an exclusive lock is requested between the counting session\'s locks and pg_dump\'s (no deadlock)%s', async (_, column, locale: Record<string, string>) => {
    // pg_dump would queue behind the ALTER, which waits for the session, which waits for pg_dump.
    const alterer = new Client({ connectionString: source.url });
    const watcher = new Client({ connectionString: source.url });
    await Promise.all([alterer.connect(), watcher.connect()]);
    let altered: Promise<unknown> = Promise.resolve();
    const saved = Object.fromEntries(Object.keys(locale).map((k) => [k, process.env[k]]));
    Object.assign(process.env, locale);
    try {
      const run = await startPostgresSource(
        { kind: 'postgres', site: 'eu-west-1a', connection: source.url },
        {
          lockWaitTimeoutMs: 500,
          beforeDump: async () => {
            altered = alterer.query(`ALTER TABLE empty_one ADD COLUMN ${column} text`);
            await pollUntil(
              async () =>
                (await watcher.query(`SELECT 1 FROM pg_locks WHERE relation = 'public.empty_one'::regclass AND mode = 'AccessExclusiveLock' AND NOT granted`)).rowCount === 1,
              { what: 'the ALTER to wait for its lock', timeoutMs: 5_000 },
            );
          },
        },
      );
      run.stream.resume();
      await expect(run.done()).rejects.toThrow(/^pg_dump exited with 1: pg_dump: error: query failed: .*\npg_dump: detail: Query was: LOCK TABLE .*empty_one.*\(pg_dump waited too long for a table lock: another session asked for an exclusive lock on the table while this backup held its share lock, so the backup gave way; the next run retries\)$/s);
      await altered; // went through once the backup gave way
      await pollUntil(
        async () => (await watcher.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'continuity-backup'`)).rowCount === 0,
        { what: 'the counting session to be gone', timeoutMs: 5_000 },
      );
    } finally {
      for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
      await altered.catch(() => undefined);
      await Promise.all([alterer.end(), watcher.end()]);
    }
  });

  it('fails the backup when a count fails, stopping pg_dump: no row counts are handed on', async () => {
    const watcher = new Client({ connectionString: source.url });
    await watcher.connect();
    const counted: string[] = [];
    try {
      const run = await startPostgresSource(
        { kind: 'postgres', site: 'eu-west-1a', connection: source.url },
        {
          beforeCount: async (table) => {
            counted.push(table.name);
            // The counting session goes away while pg_dump, which imported its snapshot, carries on.
            if (table.name === 'orders') await watcher.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'continuity-backup'`);
          },
        },
      );
      run.stream.resume();
      await expect(run.done()).rejects.toThrow(/^counting rows: /);
      expect(counted).toContain('orders');
      expect(run.index().tables).toBeNull();
      await pollUntil(
        async () => (await watcher.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name IN ('continuity-backup', 'pg_dump')`)).rowCount === 0,
        { what: 'pg_dump and the counting session to be gone', timeoutMs: 5_000 },
      );
    } finally {
      await watcher.end();
    }
  });

  it('backs up without row counts, saying why, when node-postgres cannot open the counting session (a libpq connection string it cannot represent)', async () => {
    const name = `backup_test_odd?${testRunId('q')}`.toLowerCase();
    const admin = new Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name}"`);
    try {
      const url = new URL(PG_ADMIN_URL);
      const connection = `host=${url.hostname} port=${url.port || 5432} user=${decodeURIComponent(url.username) || 'postgres'} dbname='${name}'`;
      const { done } = await world.runner(await world.config(configYaml(connection))).start('shop-db', { trigger: 'test' });
      const outcome = await done;
      if (outcome.state !== 'created') throw new Error(`backup failed: ${outcome.reason}`);
      const [manifest] = await manifestsOf(outcome.backupId);
      expect(manifest.tables).toBeNull();
      expect(manifest.tablesNotRecorded).toMatch(/^cannot count rows: a database name holding "\?" or "#" cannot be passed to node-postgres/);
    } finally {
      if (name.includes('test')) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  });
});
