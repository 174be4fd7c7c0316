import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { artifactPath, lsnValue, walArtifactKey, walFileFacts } from '@continuity/artifacts';
import { pollUntil } from '@continuity/messaging/testing';
import { bearer, createPgCluster, freePort, startServiceProcess, type PgCluster } from '@continuity/runtime/testing';
import { LocationRegistry } from '../src/backup-run/locations/location.registry.js';
import type { BackupConfig } from '../src/config/backup-config.loader.js';
import { WalInventory } from '../src/wal/wal-inventory.js';
import { WalArchiver } from '../src/wal/wal-archiver.js';
import { runCli, startWorld, World, stopRestoredServers } from './harness.js';

const IDENTITY = 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX';
const RESOURCE = 'pg-pitr';
const SHIP_MS = 1_000;
const asRoot = process.getuid?.() === 0;
const pgIds = () => ({ uid: Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout), gid: Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout) });

/** Commits one row at a time, remembering when each commit was acknowledged; can pause between commits. */
const startCommitWriter = async (url: string) => {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('CREATE TABLE IF NOT EXISTS items (id bigserial PRIMARY KEY, note text NOT NULL, at timestamptz NOT NULL DEFAULT now())');
  const acked: { id: number; at: number }[] = [];
  let paused: Promise<void> | null = null;
  let resume: () => void = () => undefined;
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      if (paused) await paused;
      try {
        const { rows } = await client.query<{ id: string }>("INSERT INTO items (note) VALUES (repeat('x', 300)) RETURNING id");
        acked.push({ id: Number(rows[0]!.id), at: Date.now() });
      } catch {
        return; // the server is gone
      }
    }
  })();
  return {
    acked,
    /** Resolves once no commit is in flight: the last acked row is the last committed. */
    pause: async () => {
      paused = new Promise((r) => (resume = r));
      const n = acked.length;
      await pollUntil(() => acked.length > n || null, { timeoutMs: 10_000, what: 'one more commit' });
      await new Promise((r) => setTimeout(r, 50));
    },
    resume: () => {
      paused = null;
      resume();
    },
    stop: async () => {
      stop = true;
      resume();
      await loop;
      await client.end().catch(() => undefined);
    },
  };
};

const flipByte = (file: string) => {
  const fd = openSync(file, 'r+');
  const size = Number(spawnSync('stat', ['-c', '%s', file], { encoding: 'utf8' }).stdout);
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, size >> 1);
  writeSync(fd, Buffer.from([byte[0]! ^ 0xff]), 0, 1, size >> 1);
  closeSync(fd);
};

describe('point-in-time restore: base backup + WAL archive, restore_command = continuity wal-fetch (real clusters, CLI with no service running)', () => {
  let world: World;
  let cluster: PgCluster;
  let writer: Awaited<ReturnType<typeof startCommitWriter>>;
  let config: BackupConfig;
  let locations: LocationRegistry;
  let archiver: WalArchiver;
  let configFile: string;
  let env: Record<string, string>;
  let backupStartLsn: string;
  const started: string[] = [];

  const yaml = (withKey: boolean) => `
resources:
  ${RESOURCE}:
    kind: postgres
    site: eu-west-1a
    connection: "${cluster.primary.url}"
    restoreTargets: ["${world.root}/restored"]
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1b, medium: nas, path: ${world.root}/nas }
policies:
  pitr:
    resource: ${RESOURCE}
    method: basebackup
    copies: [local-disk, nas]
    threeTwoOne: { optOut: two copies are enough for this test }
${withKey ? `    encryption: { keyFile: ${world.root}/pitr.agekey }\n` : ''}    wal: { enabled: true, walShipIntervalMs: ${SHIP_MS} }
`;

  const restore = (args: string[], over: Record<string, string> = {}) => runCli(['restore', RESOURCE, ...args], { ...env, ...over });
  const switchWal = async () => (await cluster.primary.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name'))[0]!.name;
  const archived = (name: string) =>
    pollUntil(() => archiver.shipments.flatMap((s) => s.segments).find((s) => s.name === name && !s.partial), { timeoutMs: 30_000, what: `${name} archived` });
  const finishedSegments = () => [...new Set(archiver.shipments.flatMap((s) => s.segments).filter((s) => s.kind === 'segment' && !s.partial).map((s) => s.name))].sort();
  const walCopy = (location: string, name: string) => join(world.root, location, artifactPath(walArtifactKey(RESOURCE, name, true)));
  const restoredClient = async (port: number) => {
    const client = new Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await client.connect();
    return client;
  };

  beforeAll(async () => {
    world = await startWorld('pitr');
    chmodSync(world.root, 0o755);
    // The restored server (and its restore_command) runs as the postgres OS user: it reads the
    // copies and the key through their group, as a restore host would be set up.
    for (const dir of ['local', 'nas']) {
      mkdirSync(join(world.root, dir));
      if (asRoot) chownSync(join(world.root, dir), 0, pgIds().gid);
      chmodSync(join(world.root, dir), 0o2750);
    }
    writeFileSync(join(world.root, 'pitr.agekey'), `${IDENTITY}\n`, { mode: 0o640 });
    if (asRoot) chownSync(join(world.root, 'pitr.agekey'), 0, pgIds().gid);
    cluster = await createPgCluster({ standbys: 0 });
    writer = await startCommitWriter(cluster.primary.url);
    configFile = world.configFile(yaml(true));
    config = await world.config(yaml(true));
    locations = new LocationRegistry(config, world.nc);
    const inventory = new WalInventory(world.pool);
    await inventory.migrate();
    archiver = world.walArchiver({ policy: config.policies.get('pitr')!, locations, inventory });
    await archiver.start();
    const outcome = await (await world.runner(config).start(RESOURCE, { trigger: 'test' })).done;
    if (outcome.state !== 'created') throw new Error(`base backup failed: ${JSON.stringify(outcome)}`);
    const [created] = await world.events('BackupCreated', RESOURCE);
    backupStartLsn = created!.data.basebackup.startLsn;
    env = { CONTINUITY_CONFIG: configFile, DATABASE_URL: world.db.url, NATS_URL: 'nats://127.0.0.1:4222', CONTINUITY_NAMESPACE: world.topology.namespace };
  }, 120_000);

  afterAll(async () => {
    stopRestoredServers(started);
    await writer?.stop();
    await archiver?.stop();
    await locations?.close();
    await cluster?.remove().catch(() => undefined);
    await world?.close();
  });

  it('restores to a time T between two known commits: every row committed before T, none after; a segment damaged in one copy comes from the other, and says so', async () => {
    await pollUntil(() => writer.acked.length > 100 || null, { what: 'rows committed after the base backup' });
    await writer.pause();
    const lastBefore = writer.acked[writer.acked.length - 1]!;
    await new Promise((r) => setTimeout(r, 300));
    const target = new Date();
    await new Promise((r) => setTimeout(r, 300));
    writer.resume();
    await pollUntil(() => writer.acked.length > writer.acked.findIndex((a) => a.id === lastBefore.id) + 50 || null, { what: 'rows committed after T' });
    const switched = await switchWal();
    await archived(switched);
    // The segment the base backup starts in, damaged in the first copy tried (local-disk).
    const first = finishedSegments().find((n) => lsnValue(walFileFacts(n).endLsn) > lsnValue(backupStartLsn))!;
    flipByte(walCopy('local', first));

    const port = await freePort();
    const dataDir = join(world.root, 'restored', 'at-time');
    started.push(dataDir);
    const run = await restore(['--at', target.toISOString(), '--to-data-dir', dataDir, '--start', '--port', String(port)]);
    expect(`${run.code} ${run.stderr}`).toBe(`0 ${run.stderr}`);
    expect(run.stdout).toContain(`restored ${RESOURCE} to time ${target.toISOString()}`);
    expect(run.stdout).toMatch(new RegExp(`refused copy local-disk of ${first}: SHA-256 mismatch`));
    expect(run.stdout).toMatch(/recovery: promoted at LSN [0-9A-F]+\/[0-9A-F]+, last transaction replayed \d{4}-/);
    expect(run.stdout).toMatch(/WAL files replayed from the archive: [1-9]\d* \(.*from nas/);
    expect(run.stdout).toMatch(/time taken \(data recovery\): \d+\.\d s/);
    const client = await restoredClient(port);
    try {
      const { rows } = await client.query<{ max: string; n: string }>('SELECT max(id)::text AS max, count(*)::text AS n FROM items');
      expect(Number(rows[0]!.max)).toBe(lastBefore.id); // every row before T (the last one before the pause), none after
      const [source] = await cluster.primary.query<{ n: string }>('SELECT count(*)::text AS n FROM items WHERE id <= $1', [lastBefore.id]);
      expect(rows[0]!.n).toBe(source!.n);
      // A promoted primary: it takes writes.
      await client.query("INSERT INTO items (note) VALUES ('after restore')");
    } finally {
      await client.end();
    }
    // The plan in the data directory: 0600, no key material, only the key file's path.
    const plan = readFileSync(join(dataDir, 'continuity-restore-plan.json'), 'utf8');
    expect(plan).not.toContain('AGE-SECRET-KEY');
    expect(plan).toContain(join(world.root, 'pitr.agekey'));
    expect(spawnSync('stat', ['-c', '%a', join(dataDir, 'continuity-restore-plan.json')], { encoding: 'utf8' }).stdout.trim()).toBe('600');
  }, 180_000);

  it('--latest after kill -9 of the primary and deletion of its data directory: loss bounded by the ship interval, the moment reached reported', async () => {
    const before = writer.acked.length;
    await pollUntil(() => writer.acked.length > before + 200 || null, { what: 'more rows before the kill' });
    await new Promise((r) => setTimeout(r, 1_000));
    cluster.primary.kill9();
    const killedAt = Date.now();
    await writer.stop();
    rmSync(cluster.primary.dataDir, { recursive: true, force: true });
    // What was received before the kill leaves the spool within an interval and a scan.
    await new Promise((r) => setTimeout(r, SHIP_MS + 1_000));
    await archiver.stop();

    const port = await freePort();
    const dataDir = join(world.root, 'restored', 'latest');
    started.push(dataDir);
    const run = await restore(['--latest', '--to-data-dir', dataDir, '--start', '--port', String(port)]);
    expect(`${run.code} ${run.stderr}`).toBe(`0 ${run.stderr}`);
    const reached = /last transaction replayed (\S+)/.exec(run.stdout)?.[1];
    expect(reached).toBeDefined();
    const slackMs = SHIP_MS + 2_500; // the ship interval + scans (200 ms) + a loaded machine
    expect(Date.parse(reached!)).toBeGreaterThan(killedAt - slackMs);
    expect(Date.parse(reached!)).toBeLessThanOrEqual(killedAt);
    const client = await restoredClient(port);
    try {
      const ids = new Set((await client.query<{ id: string }>('SELECT id::text FROM items')).rows.map((r) => Number(r.id)));
      const mustHave = writer.acked.filter((a) => a.at < killedAt - slackMs);
      expect(mustHave.length).toBeGreaterThan(100);
      expect(mustHave.filter((a) => !ids.has(a.id))).toEqual([]);
    } finally {
      await client.end();
    }
  }, 180_000);

  it('a segment damaged in every copy: recovery stops before it, the restore says where and exits non-zero', async () => {
    const segments = finishedSegments().filter((n) => lsnValue(walFileFacts(n).startLsn) > lsnValue(backupStartLsn));
    const victim = segments[1] ?? segments[0]!;
    for (const location of ['local', 'nas']) flipByte(walCopy(location, victim));
    const port = await freePort();
    const dataDir = join(world.root, 'restored', 'damaged');
    started.push(dataDir);
    const run = await restore(['--latest', '--to-data-dir', dataDir, '--start', '--port', String(port)]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`WAL file ${victim} could not be fetched from any copy`);
    const stoppedAt = /recovery stopped at LSN ([0-9A-F]+\/[0-9A-F]+)/.exec(run.stderr)?.[1];
    expect(stoppedAt).toBeDefined();
    expect(lsnValue(stoppedAt!) <= lsnValue(walFileFacts(victim).startLsn)).toBe(true);
  }, 180_000);

  it('without the key: a clear error naming the missing key, nothing restored', async () => {
    const noKey = world.configFile(yaml(false));
    const dataDir = join(world.root, 'restored', 'nokey');
    const run = await restore(['--latest', '--to-data-dir', dataDir], { CONTINUITY_CONFIG: noKey });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/encrypted \(age, to age1\S+\) and no key was given: pass the key file holding its AGE-SECRET-KEY \(--key <file>\) \[RESTORE.KEY_REQUIRED\]/);
    expect(existsSync(dataDir)).toBe(false);
  }, 60_000);

  it('refuses a data directory that is not empty, a symbolic link, or outside restoreTargets; a time in the future is a usage error', async () => {
    const full = join(world.root, 'restored', 'full');
    mkdirSync(full, { recursive: true });
    writeFileSync(join(full, 'keep.txt'), 'mine');
    const notEmpty = await restore(['--latest', '--to-data-dir', full]);
    expect(notEmpty.code).toBe(1);
    expect(notEmpty.stderr).toContain('RESTORE.TARGET_NOT_EMPTY');
    expect(readFileSync(join(full, 'keep.txt'), 'utf8')).toBe('mine');

    const link = join(world.root, 'restored', 'link');
    symlinkSync(join(world.root, 'restored', 'empty-real'), link);
    mkdirSync(join(world.root, 'restored', 'empty-real'));
    const viaLink = await restore(['--latest', '--to-data-dir', link]);
    expect(viaLink.code).toBe(1);
    expect(viaLink.stderr).toContain('is a symbolic link');

    const outside = await restore(['--latest', '--to-data-dir', join(world.root, 'elsewhere')]);
    expect(outside.code).toBe(4);
    expect(outside.stderr).toContain('RESTORE.TARGET_NOT_ALLOWED');
    expect(existsSync(join(world.root, 'elsewhere'))).toBe(false);

    // (Targets in the future, unparseable or before the first base backup: recovery-target.spec.ts, pitr-plan.policy.spec.ts.)
    const future = await restore(['--at', new Date(Date.now() + 3_600_000).toISOString(), '--to-data-dir', join(world.root, 'restored', 'x')]);
    expect(future.code).toBe(2);
    expect(future.stderr).toContain('is in the future');
  }, 90_000);

  it('wal-fetch refuses a WAL file name or destination that is a path, writing nothing', async () => {
    const dataDir = join(world.root, 'restored', 'at-time');
    const walFetch = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [join(__dirname, '..', 'dist', 'cli', 'wal-fetch.main.js'), ...args], { cwd: dataDir, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (c) => (stderr += c));
        child.once('exit', (code) => resolve({ code, stderr }));
      });
    const traversal = await walFetch(['../../../etc/passwd', 'pg_wal/RECOVERYXLOG']);
    expect(traversal.code).toBe(2);
    expect(traversal.stderr).toContain('is not a WAL file name');
    const outsideDest = await walFetch(['000000010000000000000001', '../stolen']);
    expect(outsideDest.code).toBe(2);
    expect(outsideDest.stderr).toContain('outside the data directory');
    expect(existsSync(join(dataDir, '..', 'stolen'))).toBe(false);
  }, 30_000);

  it('over HTTP (operator): a data directory outside restoreTargets is 403, a symbolic link 400, a viewer 403, a bad target 400; nothing written', async () => {
    const proc = await startServiceProcess('backup', { ...env, BACKUP_SCHEDULER: 'off', BACKUP_WAL_ARCHIVE: 'off' });
    try {
      await proc.waitForOutput(`backup listening on http://127.0.0.1:${proc.port}`, 60_000);
      const post = (body: unknown, role = 'operator') =>
        fetch(`http://127.0.0.1:${proc.port}/resources/${RESOURCE}/restore`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(role as 'operator') }, body: JSON.stringify(body) });
      const outside = await post({ latest: true, toDataDir: join(world.root, 'api-elsewhere') });
      expect(outside.status).toBe(403);
      expect(await outside.json()).toMatchObject({ code: 'RESTORE.TARGET_NOT_ALLOWED' });
      expect(existsSync(join(world.root, 'api-elsewhere'))).toBe(false);
      const viaLink = await post({ latest: true, toDataDir: join(world.root, 'restored', 'link') });
      expect(viaLink.status).toBe(400);
      expect(await viaLink.json()).toMatchObject({ code: 'RESTORE.WRONG_TARGET' });
      expect((await post({ latest: true, toDataDir: join(world.root, 'restored', 'api') }, 'viewer')).status).toBe(403);
      const twoTargets = await post({ latest: true, lsn: '0/1', toDataDir: join(world.root, 'restored', 'api') });
      expect(twoTargets.status).toBe(400);
      expect((await post({ latest: true, toDataDir: join(world.root, 'restored', 'api'), keyFile: '/etc/shadow' })).status).toBe(400);
      expect(existsSync(join(world.root, 'restored', 'api'))).toBe(false);
    } finally {
      await proc.stop('SIGTERM');
    }
  }, 120_000);
});
