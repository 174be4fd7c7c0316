import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Objm } from '@nats-io/obj';
import { writeFileSync } from 'node:fs';
import { withConnection } from '@continuity/runtime';
import { LocationRegistry } from '../src/backup-run/locations/location.registry.js';
import { createTestDatabase, databaseUrl, fingerprint, seedDatabase, startWorld, World } from './harness.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const listAll = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? listAll(join(dir, d.name)) : [join(dir, d.name)]));

describe('PostgreSQL backup to three copies on two media (real PostgreSQL, NATS, filesystem)', () => {
  let world: World;
  let source: Awaited<ReturnType<typeof createTestDatabase>>;
  let bucket: string;

  beforeAll(async () => {
    world = await startWorld('bkpg');
    source = await createTestDatabase('backup_test_src');
    await seedDatabase(source.url);
    bucket = world.bucket('offsite');
  });

  afterAll(async () => {
    await source?.drop();
    await world?.close();
  });

  const configYaml = () => `
resources:
  orders-db: { kind: postgres, site: eu-west-1a, connection: "${source.url}", restoreTargets: ["${databaseUrl(`${source.name}_*`)}"] }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/nas }
  offsite: { kind: object-store, site: eu-central-1, bucket: ${bucket} }
policies:
  orders-nightly:
    resource: orders-db
    copies: [local-disk, nas, offsite]
`;

  it('reads the database once into every copy, with manifests, and publishes BackupCreated', async () => {
    const runner = world.runner(await world.config(configYaml()));
    const progress: number[] = [];
    const { backupId, done } = await runner.start('orders-db', { trigger: 'test', onProgress: (p) => progress.push(p.bytesDone) });
    const outcome = await done;
    expect(outcome).toMatchObject({ state: 'created', backupId });
    if (outcome.state !== 'created') throw new Error('not created');

    const [created] = await world.events('BackupCreated');
    expect(created!.data).toMatchObject({
      backupId,
      resourceKind: 'postgres',
      method: 'pg_dump-custom',
      policy: 'orders-nightly',
      encryption: null,
      threeTwoOne: { compliant: true, resourceSite: 'eu-west-1a', failedRules: [], optOut: null },
    });
    expect(created!.data.copies.map((c: { location: string }) => c.location)).toEqual(['local-disk', 'nas', 'offsite']);

    // Every copy holds exactly the bytes the event names.
    for (const copy of created!.data.copies.slice(0, 2)) {
      const bytes = readFileSync(fileURLToPath(copy.uri));
      expect(bytes.subarray(0, 5).toString()).toBe('PGDMP');
      expect({ size: bytes.length, sha: sha256(bytes) }).toEqual({ size: created!.data.sizeBytes, sha: created!.data.sha256 });
      const manifest = JSON.parse(readFileSync(fileURLToPath(copy.manifestUri), 'utf8'));
      expect(manifest).toMatchObject({ backupId, resource: 'orders-db', stored: { sha256: created!.data.sha256 }, plaintext: { sha256: created!.data.sha256 } });
      expect(manifest.tools.pg_dump).toMatch(/^\d+\.\d+/);
    }
    const os = await new Objm(world.nc).open(bucket);
    const blob = Buffer.from((await os.getBlob(`orders-db/${backupId}.dump`))!);
    expect(sha256(blob)).toBe(created!.data.sha256);
    expect(JSON.parse(Buffer.from((await os.getBlob(`orders-db/${backupId}.manifest.json`))!).toString()).backupId).toBe(backupId);

    // No temporary file anywhere; the catalogue has it.
    expect(listAll(world.root).filter((f) => f.includes('.partial-'))).toEqual([]);
    const record = await world.catalogue.get(backupId);
    expect(record).toMatchObject({ state: 'created', sizeBytes: created!.data.sizeBytes, sha256: created!.data.sha256 });
    expect(progress[progress.length - 1]).toBe(created!.data.sizeBytes);
  });

  it('restores into a new database: every table\'s rows and checksum, and the large object, equal the original', async () => {
    const config = await world.config(configYaml());
    const runner = world.runner(config);
    const { done } = await runner.start('orders-db', { trigger: 'test' });
    const outcome = await done;
    if (outcome.state !== 'created') throw new Error(`backup failed: ${outcome.reason}`);
    const locations = new LocationRegistry(config, world.nc);
    const restore = world.restorer(config, (name) => (config.locations.has(name) ? locations.get(name) : null));
    const targetName = `${source.name}_restored`;
    try {
      const result = await restore.restore({ backupId: outcome.backupId, to: databaseUrl(targetName) });
      expect(result).toMatchObject({ kind: 'postgres', copy: { location: 'local-disk' }, attempts: [{ location: 'local-disk', ok: true }] });
      const [original, restored] = [await fingerprint(source.url), await fingerprint(databaseUrl(targetName))];
      expect(Object.keys(original)).toEqual(['customers', 'documents', 'events', 'orders', '(large objects)']);
      expect(original.orders!.rows).toBe(5000);
      expect(original['(large objects)']!.rows).toBe(1);
      expect(restored).toEqual(original);

      // Restoring again into the now non-empty database is refused, naming the way out.
      await expect(restore.restore({ backupId: outcome.backupId, to: databaseUrl(targetName) })).rejects.toThrow(/already holds \d+ relations: .* --clean/);
    } finally {
      await new (await import('pg')).Client({ connectionString: databaseUrl('postgres') }).connect().then(async (c) => {
        if (targetName.includes('test')) await c.query(`DROP DATABASE IF EXISTS "${targetName}" WITH (FORCE)`);
        await c.end();
      });
      await locations.close();
    }
  });

  it('restores into a new database with the configured maintenance_work_mem and without waiting for the disk at each commit, in every pg_restore session', async () => {
    // A table whose rows hold only in a session with synchronous_commit=off and maintenance_work_mem
    // 96MB (neither the server's 64MB nor the default 512MB): its COPY (a --jobs worker's) fails in
    // any other, and then the database the restore made is dropped again.
    const tuned = await createTestDatabase('backup_test_tuned');
    const targetName = `${tuned.name}_restored`;
    let registry: LocationRegistry | null = null;
    try {
      await withConnection(tuned.url, (c) =>
        c.query(`
          SET synchronous_commit = off;
          SET maintenance_work_mem = '96MB';
          CREATE TABLE tuned (
            id int PRIMARY KEY
              CONSTRAINT asynchronous CHECK (current_setting('synchronous_commit') = 'off')
              CONSTRAINT sorted_in_96mb CHECK (current_setting('maintenance_work_mem') = '96MB')
          );
          INSERT INTO tuned SELECT generate_series(1, 10);
        `),
      );
      const config = await world.config(`
resources:
  tuned-db: { kind: postgres, site: eu-west-1a, connection: "${tuned.url}", restoreTargets: ["${databaseUrl(`${tuned.name}_*`)}"] }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
policies:
  tuned-nightly:
    resource: tuned-db
    copies: [local-disk]
    threeTwoOne: { optOut: "a test of restore sessions, not of copies" }
`);
      const outcome = await (await world.runner(config).start('tuned-db', { trigger: 'test' })).done;
      if (outcome.state !== 'created') throw new Error(`backup failed: ${outcome.reason}`);
      registry = new LocationRegistry(config, world.nc);
      const restore = (mwm: string, to: string) => world.restorer(config, (name) => registry!.get(name), 2, mwm).restore({ backupId: outcome.backupId, to: databaseUrl(to) });
      await expect(restore('128MB', `${targetName}_other`)).rejects.toThrow(/violates check constraint "sorted_in_96mb"/);
      expect(await withConnection(databaseUrl('postgres'), async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [`${targetName}_other`])).rowCount)).toBe(0);
      const result = await restore('96MB', targetName);
      expect(result).toMatchObject({ kind: 'postgres', copy: { location: 'local-disk' } });
      expect(await fingerprint(databaseUrl(targetName))).toEqual(await fingerprint(tuned.url));
    } finally {
      await withConnection(databaseUrl('postgres'), async (c) => {
        for (const name of [targetName, `${targetName}_other`]) if (name.includes('test')) await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      });
      await registry?.close();
      await tuned.drop();
    }
  });

  it('refuses a copy corrupted on disk, says so, and restores from the next copy', async () => {
    const config = await world.config(configYaml());
    const { done } = await world.runner(config).start('orders-db', { trigger: 'test' });
    const outcome = await done;
    if (outcome.state !== 'created') throw new Error(`backup failed: ${outcome.reason}`);
    // Flip one byte in the middle of the local copy (same size: only the hash can tell).
    const local = fileURLToPath(outcome.copies.find((c) => c.location === 'local-disk')!.uri);
    const bytes = readFileSync(local);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(local, bytes);
    const locations = new LocationRegistry(config, world.nc);
    const notices: string[] = [];
    const restore = world.restorer(config, (name) => locations.get(name));
    const targetName = `${source.name}_fallback`;
    try {
      const result = await restore.restore({ backupId: outcome.backupId, to: databaseUrl(targetName), onNotice: (m) => notices.push(m) });
      expect(result.copy.location).toBe('nas');
      expect(result.attempts.map((a) => [a.location, a.ok])).toEqual([['local-disk', false], ['nas', true]]);
      expect(notices).toEqual([expect.stringMatching(/^refused copy local-disk \(file:.*\): SHA-256 mismatch: the copy holds \d+ bytes with SHA-256 [0-9a-f]{64}, the backup is \d+ bytes with [0-9a-f]{64}; trying nas$/)]);
      expect(await fingerprint(databaseUrl(targetName))).toEqual(await fingerprint(source.url));
    } finally {
      await new (await import('pg')).Client({ connectionString: databaseUrl('postgres') }).connect().then(async (c) => {
        if (targetName.includes('test')) await c.query(`DROP DATABASE IF EXISTS "${targetName}" WITH (FORCE)`);
        await c.end();
      });
      await locations.close();
    }
  });

  it('refuses a second backup of the same resource while one runs', async () => {
    const runner = world.runner(await world.config(configYaml()));
    // Another process, same catalogue: made before the first run starts, so the second request
    // comes while the first backup is still running (a small database is dumped in moments).
    const other = world.runner(await world.config(configYaml()));
    const first = await runner.start('orders-db', { trigger: 'test' });
    await expect(other.start('orders-db', { trigger: 'test' })).rejects.toThrow(`a backup of orders-db is already running (${first.backupId})`);
    await expect(runner.start('orders-db', { trigger: 'test' })).rejects.toThrow('already running');
    expect((await first.done).state).toBe('created');
  });
});
