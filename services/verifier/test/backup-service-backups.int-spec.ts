import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateIdentity } from 'age-encryption';
import { jetstream } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { Client, Pool } from 'pg';
import { ContinuityPublisher } from '@continuity/contracts';
import { createTestDatabase } from '@continuity/runtime/testing';
// The backup service's own code makes the backups, exactly as in production (tests only: services never import each other).
import { parseBackupConfig } from '../../backup/src/config/backup-config.loader.js';
import { Catalogue } from '../../backup/src/catalogue/catalogue.js';
import { LocationRegistry } from '../../backup/src/backup-run/locations/location.registry.js';
import { BackupRunner } from '../../backup/src/backup-run/backup-runner.js';
import { seedDatabase, startVerifierWorld, VerifierWorld } from './harness.js';

const DAY = 86_400_000;

describe('verifying the backup service\'s backups (real NATS, PostgreSQL, filesystem)', () => {
  let world: VerifierWorld;
  let source: Awaited<ReturnType<typeof createTestDatabase>>;
  let keys: string;
  let pool: Pool;
  let locations: LocationRegistry;
  let runner: BackupRunner;
  let bucket: string;
  const backups: Record<string, { backupId: string; eventId: string }> = {};

  beforeAll(async () => {
    keys = mkdtempSync(join(tmpdir(), 'continuity-verifier-keys-'));
    writeFileSync(join(keys, 'secrets.agekey'), `${await generateIdentity()}\n`, { mode: 0o600 });
    writeFileSync(join(keys, 'vault.agekey'), `${await generateIdentity()}\n`, { mode: 0o600 });
    // The verifier holds the key of "secrets" only; "vault"'s is not given to it.
    world = await startVerifierWorld('bsvc', { config: `keys: [${join(keys, 'secrets.agekey')}]\n` });
    source = await createTestDatabase('verifier_src');
    await seedDatabase(source.url, 3_000);
    // What the manifest's row counts must get right: an odd name, partitions, an inheritance child.
    const c = new Client({ connectionString: source.url });
    await c.connect();
    await c.query(`
      CREATE TABLE "Weird Name" (id int);
      INSERT INTO "Weird Name" VALUES (1), (2), (3);
      CREATE TABLE readings (at int NOT NULL, v int) PARTITION BY RANGE (at);
      CREATE TABLE readings_low PARTITION OF readings FOR VALUES FROM (0) TO (100);
      CREATE TABLE readings_high PARTITION OF readings FOR VALUES FROM (100) TO (1000);
      INSERT INTO readings SELECT g, g FROM generate_series(0, 249) g;
      CREATE TABLE log_parent (id int);
      CREATE TABLE log_child () INHERITS (log_parent);
      INSERT INTO log_parent VALUES (1), (2);
      INSERT INTO log_child VALUES (3), (4), (5), (6);
    `);
    await c.end();
    const tree = (name: string) => {
      const root = join(world.root, 'trees', name);
      mkdirSync(join(root, 'nested/deeper'), { recursive: true });
      mkdirSync(join(root, 'empty'));
      writeFileSync(join(root, 'a.txt'), 'alpha\n');
      writeFileSync(join(root, 'nested/deeper/big.bin'), Buffer.alloc(700_000, 9));
      writeFileSync(join(root, 'café ü.txt'), 'non-ascii\n');
      writeFileSync(join(root, 'odd-mode'), 'x');
      chmodSync(join(root, 'odd-mode'), 0o741);
      symlinkSync('a.txt', join(root, 'link-to-a'));
      return root;
    };
    bucket = world.bucket('offsite');
    const config = await parseBackupConfig(
      join(world.root, 'backup.yaml'),
      `
resources:
  orders-db: { kind: postgres, site: eu-west-1a, connection: "${source.url}" }
  files: { kind: directory, site: eu-west-1a, path: ${tree('files')} }
  secrets: { kind: directory, site: eu-west-1a, path: ${tree('secrets')} }
  vault: { kind: directory, site: eu-west-1a, path: ${tree('vault')} }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1b, medium: nas, path: ${world.root}/nas }
  offsite: { kind: object-store, site: eu-central-1, bucket: ${bucket} }
policies:
  orders-nightly: { resource: orders-db, copies: [local-disk, nas, offsite] }
  files-hourly: { resource: files, copies: [local-disk, nas, offsite] }
  secrets-hourly: { resource: secrets, copies: [local-disk, nas, offsite], encryption: { keyFile: ${join(keys, 'secrets.agekey')} } }
  vault-hourly: { resource: vault, copies: [local-disk, nas, offsite], encryption: { keyFile: ${join(keys, 'vault.agekey')} } }
`,
    );
    pool = new Pool({ connectionString: world.db.url, max: 3 });
    const catalogue = new Catalogue(pool);
    await catalogue.migrate();
    locations = new LocationRegistry(config, world.nc);
    runner = new BackupRunner({ config, locations, catalogue, publisher: new ContinuityPublisher(jetstream(world.nc), { source: 'backup', topology: world.topology }) });
  });

  afterAll(async () => {
    await locations?.close();
    await pool?.end();
    await world?.close();
    await source?.drop();
    rmSync(keys, { recursive: true, force: true });
  });

  const backUp = async (resource: string) => {
    const { done } = await runner.start(resource, { trigger: 'test' });
    const outcome = await done;
    if (outcome.state !== 'created') throw new Error(`backup of ${resource} failed: ${outcome.reason}`);
    backups[resource] = { backupId: outcome.backupId, eventId: outcome.event.id };
    return outcome;
  };
  const copyPath = async (resource: string, location: string) => {
    const { body } = await world.get(`/verifications?backupId=${backups[resource]!.backupId}&trigger=new`);
    return fileURLToPath(body.verifications[0].copies.find((c: { location: string }) => c.location === location).uri);
  };

  it('passes a good PostgreSQL backup and a good directory backup, every copy re-hashed and timed, each test-restored with its restore time', async () => {
    await Promise.all([backUp('orders-db'), backUp('files')]);
    const pg = await world.verdict(backups['orders-db']!.backupId);
    const dir = await world.verdict(backups['files']!.backupId);
    expect(pg.causationId).toBe(backups['orders-db']!.eventId);
    for (const verdict of [pg, dir]) {
      expect(verdict.data).toMatchObject({ verdict: 'passed', trigger: 'new', reasons: [] });
      expect(verdict.data.copies.map((c) => [c.location, c.readable, c.sizeMatch, c.hashMatch])).toEqual([
        ['local-disk', true, true, true],
        ['nas', true, true, true],
        ['offsite', true, true, true],
      ]);
      for (const copy of verdict.data.copies) expect(copy.mbPerSec).toBeGreaterThan(0);
      expect(verdict.data.restoreTest!.status).toBe('passed');
      expect(verdict.data.restoreTest!.durationMs).toBeGreaterThan(0);
    }
    // The backup service records every table with its rows (in the dump's snapshot); the restore
    // test checks each table's own rows (ONLY: log_parent's 2, not with log_child's 4).
    const manifest = JSON.parse(readFileSync((await copyPath('orders-db', 'local-disk')).replace(/\.dump$/, '.manifest.json'), 'utf8'));
    expect(manifest.tables).toEqual([
      { schema: 'billing', name: 'invoice lines', rows: 20 },
      { schema: 'public', name: 'Weird Name', rows: 3 },
      { schema: 'public', name: 'customers', rows: 50 },
      { schema: 'public', name: 'log_child', rows: 4 },
      { schema: 'public', name: 'log_parent', rows: 2 },
      { schema: 'public', name: 'orders', rows: 3000 },
      { schema: 'public', name: 'readings', rows: null },
      { schema: 'public', name: 'readings_high', rows: 150 },
      { schema: 'public', name: 'readings_low', rows: 100 },
    ]);
    expect(pg.data.restoreTest!.checks).toEqual([
      { name: 'pg_restore', passed: true, detail: expect.stringMatching(/^9 tables restored in \d+ ms from local-disk \(2 jobs\)$/) },
      { name: 'tables present', passed: true, detail: '9 tables recorded in the manifest' },
      { name: 'row counts as recorded', passed: true, detail: '8 tables' },
      { name: 'large objects present', passed: true, detail: '1 restored, 1 in the dump' },
    ]);
    expect(dir.data.restoreTest!.checks).toEqual([
      { name: 'extract', passed: true, detail: expect.stringMatching(/^\d+ bytes extracted from local-disk$/) },
      { name: 'every indexed entry restored', passed: true, detail: '8 entries' },
      { name: 'file contents (size, SHA-256)', passed: true, detail: '4 files, 700017 bytes' },
      { name: 'modes and link targets', passed: true, detail: 'as indexed' },
      { name: 'no unindexed entries', passed: true, detail: 'none' },
    ]);
    expect(await world.scratchLeft()).toEqual([]);
  });

  it('fails a backup with one byte flipped in one copy, naming that copy; the others are reported good', async () => {
    const path = await copyPath('orders-db', 'nas');
    const bytes = readFileSync(path);
    bytes[bytes.length >> 1] ^= 0x01;
    writeFileSync(path, bytes);
    const { status } = await world.post('/verifications', { backupId: backups['orders-db']!.backupId });
    expect(status).toBe(202);
    const verdict = await world.verdict(backups['orders-db']!.backupId, 'manual');
    expect(verdict.data.verdict).toBe('failed');
    expect(verdict.data.reasons).toEqual([expect.stringMatching(/^copy nas \(file:\/\/.*\): SHA-256 is [0-9a-f]{64}, expected [0-9a-f]{64}$/)]);
    expect(verdict.data.copies.map((c) => [c.location, c.hashMatch, c.sizeMatch])).toEqual([
      ['local-disk', true, true],
      ['nas', false, true],
      ['offsite', true, true],
    ]);
    expect(verdict.data.restoreTest!.status).toBe('passed'); // restored from a good copy
  });

  it('fails a backup with a copy deleted, naming it', async () => {
    const os = await new Objm(world.nc).open(bucket);
    await os.delete(`files/${backups['files']!.backupId}.tar`);
    await world.post('/verifications', { backupId: backups['files']!.backupId });
    const verdict = await world.verdict(backups['files']!.backupId, 'manual');
    expect(verdict.data.verdict).toBe('failed');
    expect(verdict.data.reasons).toEqual([`copy offsite (nats-object://${bucket}/files/${backups['files']!.backupId}.tar): files/${backups['files']!.backupId}.tar is not in bucket ${bucket} (deleted, or never stored)`]);
    expect(verdict.data.copies[2]).toMatchObject({ location: 'offsite', readable: false });
    expect(verdict.data.restoreTest!.status).toBe('passed');
  });

  it('scrubs: finds the damage again without anyone asking, oldest-checked first, and reports coverage', async () => {
    const before = await world.get('/verifications/coverage');
    expect(before.body).toMatchObject({ period: '30d', retained: 2, verifiedWithinPeriod: 2, overdue: 0, notPassed: 2 });
    // Nothing is due yet: a round now verifies nothing.
    expect((await world.scrubber().runOnce()).planned).toBe(0);
    // A month later both are due.
    const round = await world.scrubber().runOnce(new Date(Date.now() + 31 * DAY));
    expect(round).toMatchObject({ retained: 2, planned: 2, due: 2 });
    expect(round.verified.map((v) => v.verdict)).toEqual(['failed', 'failed']);
    const pg = await world.verdict(backups['orders-db']!.backupId, 'scrub');
    expect(pg.data.reasons).toEqual([expect.stringMatching(/^copy nas /)]);
    const dir = await world.verdict(backups['files']!.backupId, 'scrub');
    expect(dir.data.reasons).toEqual([expect.stringMatching(/^copy offsite /)]);
    const after = await world.get('/verifications/coverage');
    expect(after.body.backups.map((b: { lastTrigger: string; lastVerdict: string }) => [b.lastTrigger, b.lastVerdict])).toEqual([
      ['scrub', 'failed'],
      ['scrub', 'failed'],
    ]);
    expect((await world.get('/verifications?trigger=scrub&verdict=failed')).body.verifications).toHaveLength(2);
  });

  it('test-restores an encrypted backup with the configured key; says unverifiable when it holds no matching key', async () => {
    await Promise.all([backUp('secrets'), backUp('vault')]);
    const secrets = await world.verdict(backups['secrets']!.backupId);
    expect(secrets.data.verdict).toBe('passed');
    expect(secrets.data.restoreTest!.checks.map((c) => c.name)).toContain('decrypted artifact matches its recorded SHA-256');
    const vault = await world.verdict(backups['vault']!.backupId);
    expect(vault.data.verdict).toBe('unverifiable');
    expect(vault.data.copies.every((c) => c.hashMatch)).toBe(true); // hashes need no key
    expect(vault.data.reasons).toEqual([expect.stringMatching(/^restore test not possible: the archive is encrypted \(age\) to age1\w+ and no configured key holds a matching identity/)]);
    expect(vault.data.restoreTest).toMatchObject({ status: 'skipped' });
    expect(await world.scratchLeft()).toEqual([]);
  });
});
