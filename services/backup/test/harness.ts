import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Client, Pool } from 'pg';
import { ContinuityPublisher, continuityEvents, Envelope, EventType, type RouteRecord } from '@continuity/contracts';
import { testRunId } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, readStream } from '@continuity/messaging/testing';
import { PG_BIN } from '@continuity/runtime/testing';
import { BackupConfig, parseBackupConfig } from '../src/config/backup-config.loader.js';
import { Catalogue } from '../src/catalogue/catalogue.js';
import { LocationRegistry } from '../src/backup-run/locations/location.registry.js';
import { BackupRunner, BackupRunnerDeps } from '../src/backup-run/backup-runner.js';
import { RestoreDeps, RestoreOptions, RestoreService } from '../src/restore/restore.service.js';
import { WalArchiver, WalArchiverDeps } from '../src/wal/wal-archiver.js';

export const PG_ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const databaseUrl = (name: string) => {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
};

/** Creates a database of this test file's own; refuses any name without "test" in it. */
export const createTestDatabase = async (prefix = 'backup_test') => {
  const name = `${prefix}_${testRunId('db')}`.toLowerCase();
  if (!name.includes('test')) throw new Error(`refusing to use database ${name}: its name lacks "test"`);
  const admin = new Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  return {
    name,
    url: databaseUrl(name),
    drop: async () => {
      if (!name.includes('test')) throw new Error(`refusing to drop database ${name}: its name lacks "test"`);
      const c = new Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
};

export interface TestRole {
  name: string;
  password: string;
  /** A URL to `database` as this role; with its password only when asked. */
  url(database: string, options?: { withPassword?: boolean }): string;
  /** Makes the role own `database` (so it may dump and restore it). */
  own(database: string): Promise<void>;
  drop(): Promise<void>;
}

const asAdmin = async <T>(work: (c: Client) => Promise<T>): Promise<T> => {
  const c = new Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
};

/** A login role with a password and CREATEDB (not superuser), of this test file's own. */
export const createTestRole = async (): Promise<TestRole> => {
  const name = `backup_test_${testRunId('role')}`.toLowerCase();
  const password = `pw-${randomBytes(12).toString('hex')}`;
  await asAdmin((c) => c.query(`CREATE ROLE "${name}" LOGIN CREATEDB PASSWORD '${password}'`));
  return {
    name,
    password,
    url: (database, options = {}) => {
      const url = new URL(PG_ADMIN_URL);
      url.username = name;
      if (options.withPassword) url.password = password;
      url.pathname = `/${database}`;
      return url.toString();
    },
    own: (database) => asAdmin((c) => c.query(`ALTER DATABASE "${database}" OWNER TO "${name}"`)).then(() => undefined),
    drop: () => asAdmin((c) => c.query(`DROP ROLE IF EXISTS "${name}"`)).then(() => undefined),
  };
};

/** This process's child processes running `name`, with their argv and environment as the kernel shows them (/proc). */
export const childProcessesNamed = (name: string): { pid: number; argv: string[]; environ: string[] }[] =>
  readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        const stat = /^\d+ \((.*)\) \S+ (\d+) /.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'));
        if (!stat || stat[1] !== name || Number(stat[2]) !== process.pid) return [];
        const split = (file: string) => readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0').filter(Boolean);
        return [{ pid: Number(pid), argv: split('cmdline'), environ: split('environ') }];
      } catch {
        return []; // it exited while being read
      }
    });

const CLI = join(__dirname, '..', 'dist', 'cli', 'main.js');

/** Runs the built CLI (`npm run build` first) with `env` added to this process's environment. */
export const runCli = (args: string[], env: Record<string, string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });

export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `${prefix}-`));

/** One test file's world: NATS topology, catalogue database, scratch directories. */
export const startWorld = async (name: string) => {
  const nc = await connectTestNats();
  const topology = await createTestTopology(nc, name.slice(0, 4));
  const db = await createTestDatabase();
  const pool = new Pool({ connectionString: db.url, max: 4 });
  // Dropping the test database at the end ends any connection still idle in the pool (57P01): expected then.
  pool.on('error', () => undefined);
  const catalogue = new Catalogue(pool);
  await catalogue.migrate();
  const root = tempDir(`continuity-${name}`);
  const publisher = new ContinuityPublisher(jetstream(nc), { source: 'backup', topology });
  const buckets: string[] = [];
  const runners: { locations: LocationRegistry }[] = [];
  return {
    nc,
    topology,
    db,
    pool,
    catalogue,
    root,
    publisher,
    /** A bucket name of this run's own (removed at the end). */
    bucket: (label: string) => {
      const bucket = `${topology.namespace}_${label}`;
      buckets.push(bucket);
      return bucket;
    },
    /** A directory `name` under the world's root holding `files` (path → content); returns its path. */
    tree: (name: string, files: Record<string, string | Buffer>) => {
      const dir = join(root, name);
      for (const [path, content] of Object.entries(files)) {
        mkdirSync(join(dir, path, '..'), { recursive: true });
        writeFileSync(join(dir, path), content);
      }
      return dir;
    },
    configFile: (yaml: string) => {
      const file = join(root, `config-${testRunId('c')}.yaml`);
      writeFileSync(file, yaml);
      return file;
    },
    config: (yaml: string): Promise<BackupConfig> => parseBackupConfig(join(root, 'inline.yaml'), yaml),
    runner: (config: BackupConfig, over: Partial<BackupRunnerDeps> = {}) => {
      const locations = new LocationRegistry(config, nc);
      runners.push({ locations });
      return new BackupRunner({ config, locations, catalogue, publisher, progressEveryMs: 50, ...over });
    },
    /**
     * A WAL archiver of `deps.policy` whose events go through the catalogue's outbox as the
     * service's do, spooling under the world's root, scanning often and restarting fast.
     */
    walArchiver: (deps: Pick<WalArchiverDeps, 'policy' | 'locations' | 'inventory'> & Partial<WalArchiverDeps>) =>
      new WalArchiver({
        publisher,
        queue: (event) => catalogue.queue(event),
        flush: () => catalogue.flushOutbox((event) => publisher.publishEnvelope(event)),
        spoolDir: join(root, 'spool'),
        scanEveryMs: 200,
        restartBackoffMs: { min: 200, max: 1_000 },
        ...deps,
      }),
    /**
     * The restore service over `config`, recording RestorePerformed through the catalogue's outbox as
     * the service does; a dump into a new database with `jobs` (default 2: the parallel path).
     */
    restorer: (config: BackupConfig, location: RestoreDeps['location'], jobs = 2, maintenanceWorkMem?: string) => {
      const service = new RestoreService({
        catalogue,
        location,
        jobs,
        maintenanceWorkMem,
        resource: (name) => config.resources.get(name),
        recordPerformed: async (resource, data) => {
          await catalogue.queue(publisher.build('RestorePerformed', { resource, data }));
          await catalogue.flushOutbox((event) => publisher.publishEnvelope(event));
        },
      });
      return {
        authorize: service.authorize.bind(service),
        restore: (options: Omit<RestoreOptions, 'requestedBy'> & Partial<Pick<RestoreOptions, 'requestedBy'>>) =>
          service.restore({ requestedBy: { via: 'cli', operator: 'test' }, ...options }),
      };
    },
    /** Every event of `type` stored in this run's stream (upcast to the newest version). */
    events: async <T extends EventType>(type: T, resource?: string): Promise<Envelope<T, any>[]> =>
      (await readStream(nc, topology.eventStream))
        .map((m) => continuityEvents.parse(m.json()))
        .filter((e) => e.type === type && (!resource || e.resource === resource)) as Envelope<T, any>[],
    close: async () => {
      for (const r of runners) await r.locations.close();
      const { Objm } = await import('@nats-io/obj');
      for (const bucket of buckets) {
        await new Objm(nc)
          .open(bucket)
          .then((os) => os.destroy())
          .catch(() => undefined);
      }
      await pool.end();
      await db.drop();
      await topology.remove();
      await nc.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
};

export type World = Awaited<ReturnType<typeof startWorld>>;

/** Stops the servers restores started in these data directories (`pg_ctl stop -m immediate`, as postgres when root), before their folders go. */
export const stopRestoredServers = (dataDirs: readonly string[]) => {
  const pgCtl = join(PG_BIN, 'pg_ctl');
  const asRoot = process.getuid?.() === 0;
  for (const dataDir of dataDirs) {
    const args = ['-D', dataDir, '-m', 'immediate', '-w', 'stop'];
    spawnSync(asRoot ? 'runuser' : pgCtl, asRoot ? ['-u', 'postgres', '--', pgCtl, ...args] : args);
  }
};

/** The failover service's route record naming `member` (a test cluster's node) primary of `resource` at `epoch`. */
export const routeTo = (resource: string, member: { name: string; port: number }, epoch: number): RouteRecord => ({
  resource,
  primary: member.name,
  url: `postgres://127.0.0.1:${member.port}/postgres`,
  host: '127.0.0.1',
  port: member.port,
  epoch,
  failoverId: null,
  updatedAt: new Date().toISOString(),
  updatedBy: 'test',
  fenced: [],
});

/** Seeds a database: several tables, a few thousand rows, a large object, odd types. */
export const seedDatabase = async (url: string) => {
  const c = new Client({ connectionString: url });
  await c.connect();
  await c.query(`
    CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE, created_at timestamptz NOT NULL DEFAULT '2026-01-01');
    CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric(12,2), items jsonb, note text);
    CREATE TABLE events (id uuid PRIMARY KEY, payload bytea, tags text[]);
    CREATE TABLE documents (id int PRIMARY KEY, title text, body oid);
    INSERT INTO customers (name, email) SELECT 'Customer ' || g || ' ñ€', 'c' || g || '@example.com' FROM generate_series(1, 2000) g;
    INSERT INTO orders (customer_id, total, items, note)
      SELECT 1 + (g % 2000), (g * 7.31)::numeric(12,2), jsonb_build_object('sku', 'SKU-' || g, 'qty', g % 9), repeat('x', g % 50)
      FROM generate_series(1, 5000) g;
    INSERT INTO events SELECT md5(g::text)::uuid, decode(md5(g::text), 'hex'), ARRAY['a' || g, 'b'] FROM generate_series(1, 3000) g;
  `);
  const { rows } = await c.query(`SELECT lo_from_bytea(0, decode(repeat(md5('large'), 20000), 'hex')) AS oid`);
  await c.query('INSERT INTO documents VALUES (1, $1, $2)', ['big blob', rows[0].oid]);
  await c.end();
};

/** Row count and a checksum of every table's contents, and of every large object. */
export const fingerprint = async (url: string) => {
  const c = new Client({ connectionString: url });
  await c.connect();
  const tables = (await c.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)).rows.map((r) => r.tablename as string);
  const out: Record<string, { rows: number; md5: string }> = {};
  for (const table of tables) {
    const { rows } = await c.query(`SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h FROM "${table}" t`);
    out[table] = { rows: rows[0].n, md5: rows[0].h };
  }
  const los = await c.query(`SELECT oid::text, md5(lo_get(oid)) AS h FROM pg_largeobject_metadata ORDER BY oid`);
  out['(large objects)'] = { rows: los.rowCount ?? 0, md5: los.rows.map((r) => `${r.oid}:${r.h}`).join(',') };
  await c.end();
  return out;
};

/** A client committing one row of `rowBytes` at a time into `items` until stopped: the cluster (and its WAL) is written to throughout. */
export const startWriter = async (url: string, rowBytes = 200) => {
  const client = new Client({ connectionString: url });
  await client.connect();
  await client.query('CREATE TABLE IF NOT EXISTS items (id bigserial PRIMARY KEY, note text NOT NULL, at timestamptz NOT NULL DEFAULT now())');
  let stop = false;
  let written = 0;
  const loop = (async () => {
    while (!stop) {
      await client.query('INSERT INTO items (note) VALUES (repeat($1, $2))', ['x', rowBytes]);
      written++;
    }
  })();
  return {
    written: () => written,
    stop: async () => {
      stop = true;
      await loop;
      await client.end();
    },
  };
};
