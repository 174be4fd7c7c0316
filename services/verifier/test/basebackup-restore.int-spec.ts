import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { generateIdentity } from 'age-encryption';
import { pipeline } from 'node:stream/promises';
import { extract as extractTar } from 'tar';
import { zstdCompress, zstdDecompress } from '@continuity/artifacts';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import { Pool } from 'pg';
import { ContinuityPublisher } from '@continuity/contracts';
import { createPgCluster, freePort, PG_BIN, type PgCluster } from '@continuity/runtime/testing';
import type { Scratch } from '../src/restore-test/scratch.js';
import { READERS, SCRATCH } from '../src/tokens.js';
import type { CopyReaders } from '../src/copies/copy-reader.js';
import { BaseBackupRestoreTest } from '../src/restore-test/basebackup.restore-test.js';
// The backup service's own code takes the base backups, exactly as in production (tests only: services never import each other).
import { parseBackupConfig } from '../../backup/src/config/backup-config.loader.js';
import { Catalogue } from '../../backup/src/catalogue/catalogue.js';
import { LocationRegistry } from '../../backup/src/backup-run/locations/location.registry.js';
import { BackupRunner } from '../../backup/src/backup-run/backup-runner.js';
import { pollUntil } from '@continuity/messaging/testing';
import { publishExternalBackup, startVerifierWorld, VerifierWorld } from './harness.js';

/** Processes whose command line names `folder` (a scratch server's `postgres -D <folder>/…`). */
const asRoot = process.getuid?.() === 0;
const idOf = (flag: '-u' | '-g') => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
const pgCtl = (args: string[]) => {
  const bin = join(PG_BIN, 'pg_ctl');
  return spawnSync(asRoot ? 'runuser' : bin, asRoot ? ['-u', 'postgres', '--', bin, ...args] : args, { encoding: 'utf8' });
};

const processesUnder = (folder: string) =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        return argv.some((a) => a.includes(folder)) ? [argv.join(' ')] : [];
      } catch {
        return []; // gone meanwhile
      }
    });

describe('base-backup restore test: a scratch server started from the copy (real clusters, NATS, filesystem)', () => {
  let world: VerifierWorld;
  let cluster: PgCluster;
  let pool: Pool;
  let locations: LocationRegistry;
  let runner: BackupRunner;
  /** Set to make the next BackupCreated claim another cluster's system identifier. */
  let forgeIdentity = false;
  let backupId = '';
  let keys: string;

  beforeAll(async () => {
    keys = mkdtempSync(join(tmpdir(), 'continuity-verifier-bbkeys-'));
    writeFileSync(join(keys, 'sealed.agekey'), `${await generateIdentity()}\n`, { mode: 0o600 });
    world = await startVerifierWorld('vbb', { config: `keys: [${join(keys, 'sealed.agekey')}]\n` });
    // The scratch server runs as the postgres OS user when we are root: it must reach the scratch folder through our temp folder.
    chmodSync(world.root, 0o755);
    cluster = await createPgCluster({ standbys: 0 });
    await cluster.primary.query("CREATE TABLE items (id serial PRIMARY KEY, note text); INSERT INTO items (note) SELECT repeat('x', 100) FROM generate_series(1, 2000)");
    // The source's ALTER SYSTEM settings travel in the base backup; one that would stop a server
    // from starting (a library that does not exist) shows the scratch server uses its own configuration.
    await cluster.primary.query("ALTER SYSTEM SET shared_preload_libraries = 'continuity_no_such_library'");
    const config = await parseBackupConfig(
      join(world.root, 'backup.yaml'),
      `
resources:
  pg-cluster: { kind: postgres, site: eu-west-1a, connection: "${cluster.primary.url}" }
  pg-sealed: { kind: postgres, site: eu-west-1a, connection: "${cluster.primary.url}" }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1b, medium: nas, path: ${world.root}/nas }
  offsite: { kind: object-store, site: eu-central-1, bucket: ${world.bucket('offsite')} }
policies:
  pg-physical: { resource: pg-cluster, method: basebackup, copies: [local-disk, nas, offsite] }
  pg-sealed: { resource: pg-sealed, method: basebackup, copies: [local-disk, nas, offsite], encryption: { keyFile: ${join(keys, 'sealed.agekey')} } }
`,
    );
    pool = new Pool({ connectionString: world.db.url, max: 3 });
    const catalogue = new Catalogue(pool);
    await catalogue.migrate();
    locations = new LocationRegistry(config, world.nc);
    const publisher = new ContinuityPublisher(jetstream(world.nc), { source: 'backup', topology: world.topology });
    const tampering = Object.create(publisher) as ContinuityPublisher;
    tampering.publishEnvelope = ((event: any) =>
      publisher.publishEnvelope(
        forgeIdentity && event.type === 'BackupCreated' ? { ...event, data: { ...event.data, basebackup: { ...event.data.basebackup, systemIdentifier: '1234567890123456789' } } } : event,
      )) as ContinuityPublisher['publishEnvelope'];
    runner = new BackupRunner({ config, locations, catalogue, publisher: tampering });
  }, 120_000);

  afterAll(async () => {
    await locations?.close();
    await pool?.end();
    await cluster?.remove();
    await world?.close();
    rmSync(keys, { recursive: true, force: true });
  });

  const backUp = async (resource = 'pg-cluster') => {
    const { done } = await runner.start(resource, { trigger: 'test' });
    const outcome = await done;
    if (outcome.state !== 'created') throw new Error(`base backup failed: ${outcome.reason}`);
    return outcome.backupId;
  };

  const nothingLeft = async () => {
    expect(await world.scratchLeft()).toEqual([]);
    expect(processesUnder(world.scratchDir)).toEqual([]);
  };

  it('passes a good base backup: extracted, pg_verifybackup, started on a free port, each check listed, with its restore time', async () => {
    backupId = await backUp();
    const [sid] = await cluster.primary.query<{ sid: string }>('SELECT system_identifier::text AS sid FROM pg_control_system()');
    const verdict = await world.verdict(backupId, 'new', 1, 120_000);
    expect(verdict.data).toMatchObject({ verdict: 'passed', reasons: [] });
    expect(verdict.data.copies.map((c) => [c.location, c.hashMatch])).toEqual([
      ['local-disk', true],
      ['nas', true],
      ['offsite', true],
    ]);
    const test = verdict.data.restoreTest!;
    expect(test.status).toBe('passed');
    expect(test.durationMs).toBeGreaterThan(0);
    expect(test.checks).toEqual([
      { name: 'extract', passed: true, detail: expect.stringMatching(/^\d+ entries from \d+ compressed bytes of local-disk$/) },
      { name: 'pg_verifybackup', passed: true, detail: 'backup successfully verified' },
      { name: 'server started', passed: true, detail: expect.stringMatching(/^accepting connections on 127\.0\.0\.1:\d+ \d+ ms after opening local-disk$/) },
      { name: 'answers queries', passed: true, detail: 'select 1' },
      { name: 'recovery ended', passed: true, detail: 'a primary (pg_is_in_recovery() false)' },
      { name: 'WAL position reached', passed: true, detail: expect.stringMatching(/^at [0-9A-F]+\/[0-9A-F]+; the backup ends at [0-9A-F]+\/[0-9A-F]+$/) },
      { name: 'system identifier', passed: true, detail: sid!.sid },
    ]);
    await nothingLeft();
  }, 180_000);

  it('an encrypted base backup is decrypted with the configured key on the way and passes', async () => {
    const sealed = await backUp('pg-sealed');
    const verdict = await world.verdict(sealed, 'new', 1, 120_000);
    expect(verdict.data).toMatchObject({ verdict: 'passed', reasons: [] });
    expect(verdict.data.restoreTest!.checks.map((c) => [c.name, c.passed])).toEqual([
      ['extract', true],
      ['decrypted artifact matches its recorded SHA-256', true],
      ['pg_verifybackup', true],
      ['server started', true],
      ['answers queries', true],
      ['recovery ended', true],
      ['WAL position reached', true],
      ['system identifier', true],
    ]);
    await nothingLeft();
  }, 180_000);

  it('a copy with corrupted bytes fails, naming it; the restore test uses the other, good copy', async () => {
    const { body } = await world.get(`/verifications?backupId=${backupId}&trigger=new`);
    const path = fileURLToPath(body.verifications[0].copies.find((c: { location: string }) => c.location === 'local-disk').uri);
    const bytes = readFileSync(path);
    for (let i = 0; i < 64; i++) bytes[(bytes.length >> 1) + i] ^= 0xff;
    writeFileSync(path, bytes);
    expect((await world.post('/verifications', { backupId })).status).toBe(202);
    const verdict = await world.verdict(backupId, 'manual', 1, 120_000);
    expect(verdict.data.verdict).toBe('failed');
    expect(verdict.data.reasons).toEqual([expect.stringMatching(/^copy local-disk \(file:\/\/.*\): SHA-256 is [0-9a-f]{64}, expected [0-9a-f]{64}$/)]);
    expect(verdict.data.restoreTest!.status).toBe('passed');
    expect(verdict.data.restoreTest!.checks[0]!.detail).toMatch(/ of nas$/);
    await nothingLeft();
  }, 180_000);

  it('a base backup whose event claims another system identifier fails, naming the check', async () => {
    forgeIdentity = true;
    const forged = await backUp().finally(() => (forgeIdentity = false));
    const verdict = await world.verdict(forged, 'new', 1, 120_000);
    expect(verdict.data.verdict).toBe('failed');
    expect(verdict.data.copies.every((c) => c.hashMatch)).toBe(true);
    const failed = verdict.data.restoreTest!.checks.filter((c) => !c.passed);
    expect(failed).toEqual([{ name: 'system identifier', passed: false, detail: expect.stringMatching(/^the server's is \d+; the event says 1234567890123456789$/) }]);
    expect(verdict.data.reasons).toEqual([expect.stringContaining('system identifier')]);
    await nothingLeft();
  }, 180_000);

  it('a base backup whose files differ from its backup_manifest (stored hash intact) fails pg_verifybackup, and no server is started', async () => {
    const { body } = await world.get(`/verifications?backupId=${backupId}&trigger=new`);
    const nas = fileURLToPath(body.verifications[0].copies.find((c: { location: string }) => c.location === 'nas').uri);
    const manifest = JSON.parse(readFileSync(nas.replace(/\.tar\.zst$/, '.manifest.json'), 'utf8'));
    const chunks: Buffer[] = [];
    for await (const chunk of zstdDecompress(createReadStream(nas))) chunks.push(chunk);
    const tar = Buffer.concat(chunks);
    // One byte of PG_VERSION's contents changed in place: the tar stays valid, backup_manifest's SHA-256 of the file no longer matches.
    let at = 0;
    while (at < tar.length && tar.subarray(at, at + 100).toString('latin1').replace(/\0.*$/s, '') !== 'PG_VERSION') {
      const size = parseInt(tar.subarray(at + 124, at + 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
      at += 512 + Math.ceil(size / 512) * 512;
    }
    expect(at).toBeLessThan(tar.length);
    tar[at + 512] = '9'.charCodeAt(0);
    const forged: Buffer[] = [];
    for await (const frame of zstdCompress((async function* () { yield tar; })())) forged.push(frame);
    const { data } = await publishExternalBackup(world, {
      resource: 'orders-db',
      resourceKind: 'postgres',
      method: 'basebackup',
      artifact: Buffer.concat(forged),
      copies: [{ location: 'disk-a', kind: 'file' }],
      manifest: { basebackup: manifest.basebackup, compression: manifest.compression },
    });
    const verdict = await world.verdict(data.backupId, 'new', 1, 120_000);
    expect(verdict.data.verdict).toBe('failed');
    expect(verdict.data.restoreTest!.checks).toEqual([
      { name: 'extract', passed: true, detail: expect.stringMatching(/ of disk-a$/) },
      { name: 'pg_verifybackup', passed: false, detail: expect.stringMatching(/checksum mismatch for file "PG_VERSION"/) },
    ]);
    expect(verdict.data.restoreTest!.checks[1]!.detail).not.toContain(world.root);
    await nothingLeft();
  }, 120_000);

  /** The restore test of the good backup's nas copy, run directly (not through a verification). */
  const runDirectly = async (tester: BaseBackupRestoreTest, signal: AbortSignal) => {
    const { body } = await world.get(`/verifications?backupId=${backupId}&trigger=new`);
    const nas = body.verifications[0].copies.find((c: { location: string }) => c.location === 'nas');
    const [created] = (await world.events('BackupCreated')).filter((e) => e.data.backupId === backupId);
    return tester.run({
      backupId,
      resource: 'pg-cluster',
      copy: { location: 'nas', uri: nas.uri, sizeBytes: created!.data.sizeBytes },
      reader: world.app.get<symbol, CopyReaders>(READERS).for(nas.uri),
      encryption: null,
      identities: [],
      plaintext: null,
      manifest: null,
      basebackup: created!.data.basebackup,
      signal,
    });
  };

  it('without PostgreSQL\'s server programs the restore test is not possible here: unverifiable, not failed', async () => {
    const tester = new BaseBackupRestoreTest(world.app.get<symbol, Scratch>(SCRATCH), { pgBin: () => join(world.root, 'no-postgres-here') });
    const outcome = await runDirectly(tester, new AbortController().signal);
    expect(outcome.result.status).toBe('skipped');
    expect(outcome.unverifiable).toMatch(/^cannot run pg_verifybackup from .*no-postgres-here: .*ENOENT.* \(set PG_BIN to PostgreSQL's bin folder\)$/);
    await nothingLeft();
  });

  it('a scratch folder the postgres OS user cannot reach is the verifier\'s configuration: unverifiable, saying so', async () => {
    if (!asRoot) return; // only as root does the server run as another OS user than the verifier
    chmodSync(world.root, 0o700);
    try {
      const outcome = await runDirectly(new BaseBackupRestoreTest(world.app.get<symbol, Scratch>(SCRATCH)), new AbortController().signal);
      expect(outcome.result.status).toBe('skipped');
      expect(outcome.unverifiable).toBe('the postgres OS user cannot reach the scratch folder: every folder above it (VERIFIER_SCRATCH_DIR) must be searchable by it');
    } finally {
      chmodSync(world.root, 0o755);
    }
    await nothingLeft();
  });

  it('stopped by the deadline (or a shutdown) while its server starts: the server is stopped and the folder removed', async () => {
    const stop = new AbortController();
    const running = runDirectly(new BaseBackupRestoreTest(world.app.get<symbol, Scratch>(SCRATCH)), stop.signal);
    const outcome = running.then(() => 'finished', (error: Error) => `stopped: ${error.name}`);
    // The moment a server process runs in the scratch folder, the verification's clock runs out.
    await pollUntil(() => processesUnder(world.scratchDir).some((p) => p.includes('postgres -D')), { timeoutMs: 60_000, intervalMs: 5, what: 'the scratch server to be starting' });
    stop.abort(new Error('the verification deadline'));
    expect(await outcome).toBe('stopped: Error');
    await nothingLeft();
  }, 120_000);

  it('the start-up sweep stops the scratch server a dead verifier left running, then removes its folder', async () => {
    // What a verifier killed mid-test leaves: a recorded scratch folder with a server running in it.
    const name = `${world.scratchPrefix}leftover`;
    const folder = join(world.scratchDir, name);
    const dataDir = join(folder, 'pgdata');
    const owner = asRoot ? { uid: idOf('-u'), gid: idOf('-g') } : null;
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (owner) for (const dir of [folder, dataDir]) chownSync(dir, owner.uid, owner.gid);
    const { body } = await world.get(`/verifications?backupId=${backupId}&trigger=new`);
    const nas = fileURLToPath(body.verifications[0].copies.find((c: { location: string }) => c.location === 'nas').uri);
    await pipeline(createReadStream(nas), (source: AsyncIterable<Buffer>) => zstdDecompress(source), extractTar({ cwd: dataDir, ...(owner ?? {}) }));
    // The source's own ALTER SYSTEM settings would stop it from starting (see beforeAll): replaced.
    writeFileSync(join(dataDir, 'postgresql.auto.conf'), `port = ${await freePort()}\nlisten_addresses = ''\nunix_socket_directories = '/proc/self/cwd'\narchive_mode = off\nmax_wal_senders = 0\n`);
    expect(pgCtl(['-D', dataDir, '-l', join(folder, 'server.log'), '-w', 'start']).status).toBe(0);
    expect(processesUnder(folder)).not.toEqual([]);
    await pool.query("INSERT INTO verifier.scratch (name, kind, location, owner, backup_id) VALUES ($1, 'directory', $2, 'a-dead-verifier', $3)", [name, folder, backupId]);

    const removed = await world.app.get<symbol, Scratch>(SCRATCH).sweep();
    expect(removed.directories).toEqual([folder]);
    expect(existsSync(folder)).toBe(false);
    await pollUntil(() => processesUnder(folder).length === 0, { timeoutMs: 10_000, what: 'the leftover server to be gone' });
    await nothingLeft();
  }, 120_000);
});
