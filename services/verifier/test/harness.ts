import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { INestApplication } from '@nestjs/common';
import { jetstream } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { Client } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { ContinuityPublisher, continuityEvents, Envelope, EventDataMap, EventType } from '@continuity/contracts';
import { testRunId } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil, readStream, TEST_NATS_URL } from '@continuity/messaging/testing';
import { createServiceApp } from '@continuity/runtime';
import { bearer, createTestDatabase, freePort, TEST_CONTINUITY_TOKENS, TEST_DATABASE_URL } from '@continuity/runtime/testing';
import { MANIFEST_FORMAT } from '@continuity/artifacts';
import { ScrubScheduler } from '../src/scrub/scrub.scheduler.js';
import { verifierEnvSchema } from '../src/verifier.env.js';
import { VerifierModule } from '../src/verifier.module.js';

/** The tests publish BackupCreated as the external publisher `billing`, for these resources only. */
export const TEST_PUBLISHERS = 'billing=billing-db,ledger-db,orders-db,shop-db,slow-db,big,probe,uploads,forged-db';

const run = promisify(execFile);

export const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

export const databaseUrl = (name: string) => {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
};

/** Names of the databases on the test server that start with `prefix`. */
export const databasesLike = async (prefix: string): Promise<string[]> => {
  const c = new Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    const { rows } = await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname', [prefix]);
    return rows.map((r) => r.datname);
  } finally {
    await c.end();
  }
};

/** A small database of the test's own: customers, orders, a large object. */
export const seedDatabase = async (url: string, orders = 500) => {
  const c = new Client({ connectionString: url });
  await c.connect();
  await c.query(`
    CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
    CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric(12,2));
    CREATE SCHEMA billing;
    CREATE TABLE billing."invoice lines" (id int PRIMARY KEY, amount numeric);
    INSERT INTO customers (name) SELECT 'Customer ' || g FROM generate_series(1, 50) g;
    INSERT INTO orders (customer_id, total) SELECT 1 + (g % 50), g * 1.25 FROM generate_series(1, ${orders}) g;
    INSERT INTO billing."invoice lines" SELECT g, g FROM generate_series(1, 20) g;
    SELECT lo_from_bytea(0, 'a large object');
  `);
  await c.end();
};

/**
 * A restore role of the test run's own (the verifier creates it on first use, LOGIN CREATEDB): named
 * so that parallel test files never share one, dropped at the end with whatever it still owns.
 */
export const testRestoreRole = () => `continuity_verify_${testRunId('role')}`;

export const dropRole = async (role: string) => {
  const c = new Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    const { rowCount } = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    if (!rowCount) return;
    for (const { datname } of (await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = $1)', [role])).rows) {
      await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
    await c.query(`DROP ROLE IF EXISTS "${role}"`);
  } finally {
    await c.end();
  }
};

export const pgDump = async (url: string): Promise<Buffer> =>
  (await run('pg_dump', ['--format=custom', `--dbname=${url}`], { encoding: 'buffer', maxBuffer: 1 << 30 })).stdout as Buffer;

/**
 * One test file's world: its own NATS topology, verifier database, scratch prefix and folders, and
 * the verifier service running in-process on them.
 */
export const startVerifierWorld = async (name: string, options: { config?: string; env?: Record<string, string> } = {}) => {
  const nc = await connectTestNats();
  const topology = await createTestTopology(nc, name.slice(0, 4));
  const db = await createTestDatabase('verifier');
  const root = mkdtempSync(join(tmpdir(), `continuity-verifier-${name}-`));
  const scratchDir = join(root, 'scratch');
  const scratchPrefix = `continuity_verify_${testRunId('t')}_`;
  const restoreRole = testRestoreRole();
  const configFile = join(root, 'verifier.yaml');
  if (options.config !== undefined) writeFileSync(configFile, options.config);
  const port = await freePort();
  const { app } = await createServiceApp({
    name: 'verifier',
    defaultPort: port,
    module: VerifierModule,
    envSchema: verifierEnvSchema,
    env: {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: db.url,
      CONTINUITY_NAMESPACE: topology.namespace,
      PORT: String(port),
      LOG_LEVEL: 'error',
      VERIFIER_SCRATCH_PREFIX: scratchPrefix,
      VERIFIER_SCRATCH_DIR: scratchDir,
      VERIFIER_RESTORE_ROLE: restoreRole,
      // Where this world's copies are written (publishExternalBackup, the backup service's locations).
      VERIFIER_FILE_ROOTS: root,
      VERIFIER_SCRUB: 'off',
      // Not the machine's cores: the restore checks say which path (jobs, staged) they took.
      VERIFIER_RESTORE_JOBS: '2',
      CONTINUITY_TOKENS: TEST_CONTINUITY_TOKENS,
      CONTINUITY_PUBLISHERS: TEST_PUBLISHERS,
      ...(options.config !== undefined ? { VERIFIER_CONFIG: configFile } : {}),
      ...options.env,
    },
  });
  const base = `http://127.0.0.1:${port}`;
  const publisher = new ContinuityPublisher(jetstream(nc), { source: 'billing', topology });
  const buckets: string[] = [];
  const events = async <T extends EventType>(type: T): Promise<Envelope<T, EventDataMap[T]>[]> =>
    (await readStream(nc, topology.eventStream))
      .flatMap((m) => {
        try {
          return [continuityEvents.parse(m.json())];
        } catch {
          return []; // a test's deliberately invalid event
        }
      })
      .filter((e) => e.type === type) as Envelope<T, EventDataMap[T]>[];
  const verdicts = async (backupId: string) => (await events('IntegrityVerified')).filter((e) => e.data.backupId === backupId);
  return {
    nc,
    topology,
    db,
    root,
    scratchDir,
    scratchPrefix,
    restoreRole,
    app: app as INestApplication,
    base,
    publisher,
    events,
    verdicts,
    /** Waits for the `n`-th verdict of `trigger` on `backupId` (1-based) and returns it. */
    verdict: async (backupId: string, trigger: 'new' | 'scrub' | 'manual' = 'new', n = 1, timeoutMs = 20_000) =>
      pollUntil(async () => (await verdicts(backupId)).filter((e) => e.data.trigger === trigger)[n - 1], { timeoutMs, intervalMs: 100, what: `verdict #${n} (${trigger}) of backup ${backupId}` }),
    scrubber: () => app.get(ScrubScheduler),
    get: async (path: string) => {
      const res = await fetch(base + path, { headers: bearer('operator') });
      return { status: res.status, body: (await res.json().catch(() => null)) as any };
    },
    post: async (path: string, body: unknown) => {
      const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer('operator') }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json().catch(() => null)) as any };
    },
    /** A bucket name of this run's own (destroyed at the end). */
    bucket: (label: string) => {
      const bucket = `${topology.namespace}_${label}`;
      buckets.push(bucket);
      return bucket;
    },
    /** Scratch databases and folders of this run still there. */
    scratchLeft: async () => [...(await databasesLike(scratchPrefix)), ...(existsSync(scratchDir) ? readdirSync(scratchDir) : []).filter((n) => n.startsWith(scratchPrefix))],
    close: async () => {
      await app.close();
      for (const bucket of buckets) await new Objm(nc).open(bucket).then((os) => os.destroy()).catch(() => undefined);
      await topology.remove();
      await db.drop();
      await dropRole(restoreRole);
      await nc.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
};

export type VerifierWorld = Awaited<ReturnType<typeof startVerifierWorld>>;

export interface ExternalCopy {
  location: string;
  /** `file` (written under the world's root), `object` (put into a bucket) or any URI (written nowhere). */
  kind: 'file' | 'object' | { uri: string };
}

/**
 * What a platform service that makes its own backups does: stores the artifact (and a manifest
 * beside each copy) wherever it likes, then announces it with BackupCreated. Returns the event data.
 */
export const publishExternalBackup = async (
  world: Pick<VerifierWorld, 'root' | 'nc' | 'bucket' | 'publisher'>,
  input: {
    resource: string;
    resourceKind: 'postgres' | 'directory' | 'external';
    method: string;
    artifact: Buffer;
    copies: ExternalCopy[];
    manifest?: Record<string, unknown> | null;
    /** Bytes actually stored in one copy, when a test wants it to differ from the artifact. */
    storedIn?: Record<string, Buffer>;
  },
) => {
  const backupId = uuidv7();
  const digest = { sha256: sha256(input.artifact), sizeBytes: input.artifact.length };
  const manifest =
    input.manifest === null
      ? null
      : { format: MANIFEST_FORMAT, backupId, resource: input.resource, resourceKind: input.resourceKind, method: input.method, stored: digest, plaintext: digest, ...input.manifest };
  const manifestBytes = manifest ? Buffer.from(JSON.stringify(manifest)) : null;
  const copies = [];
  for (const copy of input.copies) {
    const bytes = input.storedIn?.[copy.location] ?? input.artifact;
    let uri: string;
    let manifestUri: string | null = null;
    if (copy.kind === 'file') {
      const path = join(world.root, copy.location, input.resource, `${backupId}.bin`);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, bytes);
      uri = pathToFileURL(path).href;
      if (manifestBytes) {
        writeFileSync(path.replace(/\.bin$/, '.manifest.json'), manifestBytes);
        manifestUri = pathToFileURL(path.replace(/\.bin$/, '.manifest.json')).href;
      }
    } else if (copy.kind === 'object') {
      const bucket = world.bucket(copy.location);
      const os = await new Objm(world.nc).create(bucket);
      await os.putBlob({ name: `${input.resource}/${backupId}.bin` }, bytes);
      uri = `nats-object://${bucket}/${input.resource}/${backupId}.bin`;
      if (manifestBytes) {
        await os.putBlob({ name: `${input.resource}/${backupId}.manifest.json` }, manifestBytes);
        manifestUri = `nats-object://${bucket}/${input.resource}/${backupId}.manifest.json`;
      }
    } else {
      uri = copy.kind.uri;
    }
    copies.push({ location: copy.location, uri, manifestUri });
  }
  return announceBackup(world, { backupId, resource: input.resource, resourceKind: input.resourceKind, method: input.method, digest, copies });
};

/**
 * Publishes a BackupCreated as any publisher could, saying whatever it likes: copies anywhere, of
 * any declared size and hash (nothing is written). Returns the event data.
 */
export const announceBackup = async (
  world: Pick<VerifierWorld, 'publisher'>,
  input: {
    backupId?: string;
    resource: string;
    resourceKind: 'postgres' | 'directory' | 'external';
    method: string;
    digest: { sha256: string; sizeBytes: number };
    copies: { location: string; uri: string; manifestUri?: string | null }[];
  },
) => {
  const { digest } = input;
  const data: EventDataMap['BackupCreated'] = {
    backupId: input.backupId ?? uuidv7(),
    resourceKind: input.resourceKind,
    method: input.method,
    recoveryPoint: new Date().toISOString(),
    sizeBytes: digest.sizeBytes,
    sha256: digest.sha256,
    copies: input.copies.map((c) => ({ location: c.location, site: `site-${c.location}`, medium: c.uri.startsWith('nats-object:') ? 'object' : 'disk', uri: c.uri, sha256: digest.sha256, sizeBytes: digest.sizeBytes, manifestUri: c.manifestUri ?? null })),
    policy: null,
    plaintext: digest,
    encryption: null,
    threeTwoOne: null,
  };
  const published = await world.publisher.publish('BackupCreated', { resource: input.resource, data });
  return { data, event: published.event };
};
