import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, openSync, readFileSync, readSync, statSync, writeSync, closeSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Objm } from '@nats-io/obj';
import { Client } from 'pg';
import { lsnValue, readManifest } from '@continuity/artifacts';
import { pollUntil } from '@continuity/messaging/testing';
import { createPgCluster, freePort, type PgCluster } from '@continuity/runtime/testing';
import { LocationRegistry } from '../src/backup-run/locations/location.registry.js';
import type { BackupConfig } from '../src/config/backup-config.loader.js';
import { startBaseBackupSource } from '../src/backup-run/sources/basebackup.source.js';
import { childProcessesNamed, startWorld, World, startWriter, stopRestoredServers } from './harness.js';

const IDENTITY = 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX';
const PASSWORD = 'bb-secret-pw-7c1f';
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const asRoot = process.getuid?.() === 0;

const maxId = async (url: string) => {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return Number((await client.query<{ m: string | null }>('SELECT coalesce(max(id), 0)::text AS m FROM items')).rows[0]!.m);
  } finally {
    await client.end();
  }
};

describe('PostgreSQL base backups: pg_basebackup tar, zstd, three copies, restored and started (real clusters, NATS, filesystem)', () => {
  let world: World;
  let cluster: PgCluster;
  let writer: Awaited<ReturnType<typeof startWriter>>;
  let bucket: string;
  const started: string[] = [];

  beforeAll(async () => {
    world = await startWorld('bbak');
    cluster = await createPgCluster({ standbys: 0 });
    writer = await startWriter(cluster.primary.url, 200);
    await pollUntil(() => writer.written() > 50, { what: 'the writer to commit rows' });
    bucket = world.bucket('offsite');
    writeFileSync(join(world.root, 'bb.agekey'), `${IDENTITY}\n`);
    // The restored server runs as the postgres OS user: it must reach its data directory through our temp folder.
    chmodSync(world.root, 0o755);
  }, 60_000);

  afterAll(async () => {
    await writer?.stop();
    // Every restored server this file started is stopped before its directory goes.
    stopRestoredServers(started);
    await cluster?.remove();
    await world?.close();
  });

  const configYaml = (encrypted: boolean, compression: 'server' | 'service' | null = null) => {
    const url = new URL(cluster.primary.url);
    url.password = PASSWORD; // the test cluster trusts 127.0.0.1: the password only has to stay out of argv
    return `
resources:
  pg-cluster:
    kind: postgres
    site: eu-west-1a
    connection: "${url.toString()}"
    restoreTargets: ["${world.root}/restored"]
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/nas }
  offsite: { kind: object-store, site: eu-central-1, bucket: ${bucket} }
policies:
  pg-physical:
    resource: pg-cluster
    method: basebackup
    copies: [local-disk, nas, offsite]
${compression ? `    compression: ${compression}\n` : ''}${encrypted ? `    encryption: { keyFile: ${world.root}/bb.agekey }\n` : ''}`;
  };

  const restorer = (config: BackupConfig) => {
    const locations = new LocationRegistry(config, world.nc);
    return world.restorer(config, (name) => (config.locations.has(name) ? locations.get(name) : null));
  };

  let plain: { backupId: string; config: BackupConfig; maxBeforeStart: number; maxAfterEnd: number; data: any };

  it('reads the cluster once under writes into three copies, and BackupCreated carries its WAL range and timeline; no password in argv', async () => {
    const config = await world.config(configYaml(false));
    const runner = world.runner(config);
    const maxBeforeStart = await maxId(cluster.primary.url);
    let seen: ReturnType<typeof childProcessesNamed> = [];
    let spoolMode = -1;
    const { backupId, done } = await runner.start('pg-cluster', {
      trigger: 'test',
      // At the first progress pg_basebackup still runs (it is still writing the compressed tar we read).
      onProgress: () => {
        if (seen.length) return;
        seen = childProcessesNamed('pg_basebackup');
        const out = seen[0]?.argv.find((a) => a.startsWith('--pgdata='))?.slice('--pgdata='.length);
        if (out) spoolMode = statSync(dirname(out)).mode & 0o777;
      },
    });
    const outcome = await done;
    const maxAfterEnd = await maxId(cluster.primary.url);
    expect(outcome).toMatchObject({ state: 'created', backupId });

    expect(seen).toHaveLength(1);
    expect(seen[0]!.argv.join(' ')).not.toContain(PASSWORD);
    // PostgreSQL 15 compresses on the server, into a private folder the service reads as it grows (decision 0044).
    expect(seen[0]!.argv).toEqual(expect.arrayContaining(['--format=tar', '--wal-method=fetch', '--checkpoint=fast', '--manifest-checksums=CRC32C', '--compress=server-zstd:level=1', `--label=continuity-${backupId}`]));
    const out = seen[0]!.argv.find((a) => a.startsWith('--pgdata='))!.slice('--pgdata='.length);
    expect(spoolMode).toBe(0o700);
    expect(existsSync(dirname(out))).toBe(false); // the folder is gone once the backup is stored
    expect(seen[0]!.environ).toContain(`PGPASSWORD=${PASSWORD}`);

    const [created] = await world.events('BackupCreated', 'pg-cluster');
    const data = created!.data;
    const [{ sid }] = await cluster.primary.query<{ sid: string }>('SELECT system_identifier::text AS sid FROM pg_control_system()');
    expect(data).toMatchObject({
      backupId,
      resourceKind: 'postgres',
      method: 'basebackup',
      basebackup: { timeline: 1, label: `continuity-${backupId}`, pgVersion: '15', systemIdentifier: sid },
    });
    expect(lsnValue(data.basebackup.startLsn) <= lsnValue(data.basebackup.endLsn)).toBe(true);
    expect(lsnValue(data.basebackup.endLsn) <= lsnValue(await cluster.primary.currentLsn())).toBe(true);
    expect(data.copies.map((c: { location: string }) => c.location)).toEqual(['local-disk', 'nas', 'offsite']);

    for (const copy of data.copies.slice(0, 2)) {
      const bytes = readFileSync(fileURLToPath(copy.uri));
      expect(copy.uri).toMatch(new RegExp(`/pg-cluster/${backupId}\\.tar\\.zst$`));
      expect(bytes.readUInt32LE(0)).toBe(0xfd2fb528); // a zstd stream
      // …of the server's tar, then a tar of backup_manifest: read whole with --ignore-zeros.
      const listed = spawnSync('tar', ['--zstd', '--ignore-zeros', '-tf', '-'], { input: bytes, encoding: 'utf8', maxBuffer: 64 << 20 }).stdout.trim().split('\n');
      expect(listed).toEqual(expect.arrayContaining(['PG_VERSION', 'global/pg_control', 'backup_label']));
      expect(listed[listed.length - 1]).toBe('backup_manifest');
      expect({ size: bytes.length, sha: sha256(bytes) }).toEqual({ size: data.sizeBytes, sha: data.sha256 });
      const { manifest } = readManifest(readFileSync(fileURLToPath(copy.manifestUri)));
      expect(manifest).toMatchObject({ method: 'basebackup', compression: { format: 'zstd' }, basebackup: { ...data.basebackup, backupManifestSha256: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    }
    const os = await new Objm(world.nc).open(bucket);
    expect(sha256(Buffer.from((await os.getBlob(`pg-cluster/${backupId}.tar.zst`))!))).toBe(data.sha256);
    plain = { backupId, config, maxBeforeStart, maxAfterEnd, data };
  }, 120_000);

  it('restores into an empty data directory, passes pg_verifybackup, starts on a free port holding every row committed before the backup began and none after it ended', async () => {
    const port = await freePort();
    const dataDir = join(world.root, 'restored', 'started');
    started.push(dataDir);
    const result = await restorer(plain.config).restore({ backupId: plain.backupId, to: dataDir, start: { port } });
    expect(result.copy.location).toBe('local-disk');
    expect(result.dataDirectory).toMatchObject({
      verified: expect.stringContaining('backup successfully verified'),
      basebackup: { startLsn: plain.data.basebackup.startLsn, endLsn: plain.data.basebackup.endLsn },
      server: { port, answered: true },
    });
    expect(lsnValue(result.dataDirectory!.server!.lsn) >= lsnValue(plain.data.basebackup.endLsn)).toBe(true);
    expect(result.durationMs).toBeGreaterThan(0);
    if (asRoot) expect(spawnSync('stat', ['-c', '%U %a', dataDir], { encoding: 'utf8' }).stdout.trim()).toBe('postgres 700');

    const restoredUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const client = new Client({ connectionString: restoredUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string; before: string; after: string }>(
        'SELECT count(*)::text AS n, count(*) FILTER (WHERE id <= $1)::text AS before, count(*) FILTER (WHERE id > $2)::text AS after FROM items',
        [plain.maxBeforeStart, plain.maxAfterEnd],
      );
      const [source] = await cluster.primary.query<{ before: string }>('SELECT count(*)::text AS before FROM items WHERE id <= $1', [plain.maxBeforeStart]);
      expect(Number(rows[0]!.before)).toBe(Number(source!.before)); // every row committed before the backup started
      expect(Number(rows[0]!.after)).toBe(0); // none committed after it ended
    } finally {
      await client.end();
    }
  }, 180_000);

  it('refuses a copy with a flipped byte and restores from the next, saying so', async () => {
    const local = fileURLToPath(plain.data.copies[0].uri);
    const fd = openSync(local, 'r+');
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, 5000);
    writeSync(fd, Buffer.from([byte[0]! ^ 0xff]), 0, 1, 5000);
    closeSync(fd);
    const notices: string[] = [];
    const dataDir = join(world.root, 'restored', 'fallback');
    const result = await restorer(plain.config).restore({ backupId: plain.backupId, to: dataDir, onNotice: (m) => notices.push(m) });
    expect(result.copy.location).toBe('nas');
    expect(result.attempts[0]).toMatchObject({ location: 'local-disk', ok: false, error: expect.stringContaining('SHA-256 mismatch') });
    expect(notices).toEqual([expect.stringMatching(/^refused copy local-disk .*SHA-256 mismatch.*; trying nas$/)]);
    expect(result.dataDirectory?.verified).toContain('backup successfully verified');
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    rmSync(dataDir, { recursive: true, force: true });
  }, 120_000);

  it('compression: service — this service compresses pg_basebackup\'s plain tar (older servers), and it restores the same', async () => {
    const config = await world.config(configYaml(false, 'service'));
    let seen: ReturnType<typeof childProcessesNamed> = [];
    const outcome = await (await world.runner(config).start('pg-cluster', { trigger: 'test', onProgress: () => void (seen.length ? null : (seen = childProcessesNamed('pg_basebackup'))) })).done;
    expect(outcome.state).toBe('created');
    if (outcome.state !== 'created') return;
    expect(seen[0]!.argv).toEqual(expect.arrayContaining(['--pgdata=-']));
    expect(seen[0]!.argv.some((a) => a.startsWith('--compress'))).toBe(false);
    const dataDir = join(world.root, 'restored', 'service-compressed');
    const result = await restorer(config).restore({ backupId: outcome.backupId, to: dataDir });
    expect(result.dataDirectory?.verified).toContain('backup successfully verified');
    expect(result.dataDirectory?.basebackup?.systemIdentifier).toBe(plain.data.basebackup.systemIdentifier);
    rmSync(dataDir, { recursive: true, force: true });
  }, 120_000);

  describe('the server-compressed source leaves no copy of the cluster behind', () => {
    const spoolOf = (pid: number) => {
      const out = childProcessesNamed('pg_basebackup').find((c) => c.pid === pid)?.argv.find((a) => a.startsWith('--pgdata='));
      return out ? dirname(out.slice('--pgdata='.length)) : null;
    };
    const source = async () => {
      const connection = new URL(cluster.primary.url);
      connection.password = PASSWORD;
      const resource = { kind: 'postgres' as const, site: 'eu-west-1a', connection: connection.toString() };
      const run = await startBaseBackupSource(resource, `spool-${Date.now()}`, 'server');
      const [child] = childProcessesNamed('pg_basebackup');
      return { run, child: child!, spool: spoolOf(child!.pid)! };
    };
    const gone = (pid: number) => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] === 'Z';

    it('cancelled before a byte was read: pg_basebackup stopped, its folder removed', async () => {
      const { run, child, spool } = await source();
      expect(existsSync(spool)).toBe(true);
      run.cancel();
      await pollUntil(() => gone(child.pid) && !existsSync(spool), { what: 'pg_basebackup to stop and its folder to go', timeoutMs: 30_000 });
      await expect(run.done()).rejects.toThrow('cancelled');
    }, 60_000);

    it('pg_basebackup killed mid-way: the run fails naming it, and the folder is removed', async () => {
      const { run, child, spool } = await source();
      let killed = false;
      const reading = (async () => {
        for await (const _chunk of run.stream) {
          if (!killed) {
            killed = true;
            process.kill(child.pid, 'SIGKILL');
          }
        }
      })();
      await expect(reading).rejects.toThrow(/pg_basebackup was killed by SIGKILL/);
      await expect(run.done()).rejects.toThrow(/pg_basebackup was killed by SIGKILL/);
      await pollUntil(() => !existsSync(spool), { what: 'the folder to go', timeoutMs: 30_000 });
    }, 60_000);
  });

  it('an encrypted base backup restores with the key and fails clearly without it; a target outside restoreTargets is refused', async () => {
    const config = await world.config(configYaml(true));
    const outcome = await (await world.runner(config).start('pg-cluster', { trigger: 'test' })).done;
    expect(outcome.state).toBe('created');
    if (outcome.state !== 'created') return;
    expect(outcome.copies[0]!.uri).toMatch(/\.tar\.zst\.age$/);
    const restore = restorer(config);
    await expect(restore.restore({ backupId: outcome.backupId, to: join(world.root, 'restored', 'nokey') })).rejects.toMatchObject({ code: 'RESTORE.KEY_REQUIRED' });
    await expect(restore.restore({ backupId: outcome.backupId, to: join(world.root, 'elsewhere') })).rejects.toMatchObject({ code: 'RESTORE.TARGET_NOT_ALLOWED' });
    const result = await restore.restore({ backupId: outcome.backupId, to: join(world.root, 'restored', 'encrypted'), identities: [IDENTITY] });
    expect(result.dataDirectory?.verified).toContain('backup successfully verified');
    rmSync(join(world.root, 'restored', 'encrypted'), { recursive: true, force: true });
  }, 120_000);
});
