/**
 * Base backups and their point-in-time restore: a pgbench cluster (`pgbench -i -s 60` ≈ 900 MB,
 * its own PostgreSQL on a free port) with `pgbench -c 2` writing throughout, backed up by the
 * backup service (`method: basebackup`, one filesystem location: pg_basebackup's tar, zstd,
 * SHA-256, fsync; the WAL archived by the same service) against pgBackRest's full backup of the
 * same cluster (`process-max=2`, `compress-type=lz4`, one local repository, WAL archived by
 * `archive-push`), and `pg_basebackup -D - -Ft -X fetch > /dev/null` as the physical bound of the
 * read side. Our backup is also taken to three locations (`value_3_copies`). Rates are the
 * cluster's size (sum of pg_database_size, MB = 10^6 bytes) over wall time. Then each restores to
 * a moment 10 s of writes after its own backup ended (both replay their backup's WAL and as many
 * seconds of writes; with one moment for both, the backup taken first replays more): ours is the CLI's `restore <resource> --at <time>
 * --to-data-dir --start --port` (base backup fetched, hashed, decompressed, extracted,
 * pg_verifybackup, started, WAL replayed from the archive, promoted, first answered query) against
 * `pgbackrest restore --type=time --target-action=promote` + pg_ctl start until the server is
 * promoted and answers.
 *
 * Then the archive's loss, on a small cluster of its own each: `lost_commits_sync` — synchronous
 * archiving, a client committing one row at a time, kill -9 of the primary, `restore --latest`:
 * rows the client saw acknowledged but missing (must be 0); `rpo_async_s` — asynchronous
 * archiving (walShipIntervalMs 5 s), the primary and the backup service (its spool with it)
 * killed -9 at once, as a site lost: the seconds between the last acknowledged commit and the
 * last one the `--latest` restore holds (bounded by the ship interval).
 *
 * pgBackRest and bsdtar (libarchive-tools, which our restores extract with) are Debian's packages (installed with apt-get when missing). Usage:
 * `npm run bench -- pitr [--scale 60]`. The last stdout line is the JSON result.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { freePort, withConnection } from '@continuity/runtime';
import { createPgCluster, PG_BIN, TEST_CONTINUITY_TOKENS, type PgCluster } from '@continuity/runtime/testing';
import { backupOverHttp } from './lib/backup-http.js';
import { intOption, printResult, progress, round } from './lib/report.js';

const BENCH = 'pitr';
const options = (() => {
  try {
    return { scale: intOption('scale', 'BENCH_SCALE', 60) };
  } catch (error) {
    progress(`${BENCH}: ${(error as Error).message}\nusage: npm run bench -- ${BENCH} [--scale 60]`);
    process.exit(2);
  }
})();

const ROOT = join(__dirname, '..', '..');
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CATALOGUE = `continuity_bench_pitr_catalogue_${process.pid}`;
/** Seconds of writes between the end of a tool's backup and its restore target (both tools alike). */
const TARGET_AFTER_S = 10;
/** The asynchronous archive's ship interval (the bound of `rpo_async_s`). */
const ASYNC_SHIP_MS = 5_000;
const asRoot = process.getuid?.() === 0;
const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a command (as the postgres OS user when we are root: pgBackRest and the server run as it); resolves with its wall time. */
/** `echo`: the command's stdout goes to stderr, indented (our restore's own report of what it did). */
const timed = (command: string, args: string[], what: string, opts: { asPostgres?: boolean; stdout?: number; env?: NodeJS.ProcessEnv; echo?: boolean; onStdout?: (text: string) => void } = {}) =>
  new Promise<number>((resolve, reject) => {
    const [cmd, argv] = opts.asPostgres && asRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
    const started = performance.now();
    const child = spawn(cmd, argv, { stdio: ['ignore', opts.stdout ?? 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    child.stdout?.on('data', (c: Buffer) => {
      opts.onStdout?.(c.toString());
      if (opts.echo) process.stderr.write(c.toString().replace(/^(?=.)/gm, '    '));
    });
    child.once('error', (error) => reject(new Error(`${what}: ${error.message}`)));
    child.once('close', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${what} exited with ${code}: ${stderr.trim()}`))));
  });

/** A Debian package the bench needs: pgBackRest, and bsdtar, which our restores extract with (as the image installs it). */
const ensurePackage = (command: string, versionArg: string, pkg: string) => {
  if (spawnSync(command, [versionArg]).status === 0) return;
  progress(`${BENCH}: installing ${pkg} (apt-get)`);
  spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (spawnSync(command, [versionArg]).status !== 0) throw new Error(`${pkg} is not installed and apt-get could not install it`);
};

const connect = async (url: string) => {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  c.on('error', () => undefined);
  await c.connect();
  return c;
};

/** Until the server on `port` answers as a primary. */
const answers = (port: number) =>
  pollUntil(
    async () => {
      const c = await connect(`postgres://postgres@127.0.0.1:${port}/postgres`).catch(() => null);
      if (!c) return false;
      try {
        return !(await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r;
      } finally {
        await c.end().catch(() => undefined);
      }
    },
    { what: `the restored server on port ${port}`, timeoutMs: 600_000, intervalMs: 20 },
  );

const pgCtl = (dataDir: string, args: string[]) => timed(join(PG_BIN, 'pg_ctl'), ['-D', dataDir, ...args], `pg_ctl ${args.join(' ')}`, { asPostgres: true });

/** PostgreSQL's timestamp text for a moment (recovery_target_time, pgBackRest's --target). */
const pgTime = (at: Date) => at.toISOString().replace('T', ' ').replace('Z', '+00');

/** Commits one row at a time into `items`, remembering when each commit was acknowledged. */
const startCommitWriter = async (url: string) => {
  const client = await connect(url);
  await client.query('CREATE TABLE IF NOT EXISTS items (id bigserial PRIMARY KEY, note text NOT NULL)');
  const acked: { id: number; at: number }[] = [];
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      try {
        const { rows } = await client.query<{ id: string }>("INSERT INTO items (note) VALUES (repeat('x', 100)) RETURNING id");
        acked.push({ id: Number(rows[0]!.id), at: Date.now() });
      } catch {
        return; // the server is gone
      }
    }
  })();
  return {
    acked,
    stop: async () => {
      stop = true;
      await loop;
      await client.end().catch(() => undefined);
    },
  };
};

/** The backup service as a process with `config`; stopped (or killed) by the caller. */
const startService = async (config: string, env: NodeJS.ProcessEnv) => {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'services', 'backup', 'dist', 'main.js')], { env: { ...env, CONTINUITY_CONFIG: config, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  await pollUntil(async () => (await fetch(`${base}/health/ready`).catch(() => null))?.ok, { what: 'the backup service to be ready', timeoutMs: 60_000 });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    await new Promise((resolve) => child.once('exit', resolve));
  };
  const backup = (resource: string) => backupOverHttp(base, resource, `the base backup of ${resource}`);
  return { child: child as ChildProcess, stop, backup };
};

const main = async () => {
  ensurePackage('pgbackrest', 'version', 'pgbackrest');
  ensurePackage('bsdtar', '--version', 'libarchive-tools');
  const dir = mkdtempSync(join(tmpdir(), 'continuity-bench-pitr-'));
  chmodSync(dir, 0o755); // the servers and pgBackRest run as postgres
  const own = (path: string) => {
    mkdirSync(path, { recursive: true });
    if (asRoot) chownSync(path, id('-u'), id('-g'));
    return path;
  };
  /** A copy location the restored server's restore_command (the postgres user) reads through its group. */
  const location = (name: string) => {
    const path = join(dir, name);
    mkdirSync(path, { recursive: true });
    if (asRoot) chownSync(path, 0, id('-g'));
    chmodSync(path, 0o2750);
    return path;
  };
  const clusters: PgCluster[] = [];
  const cluster = await createPgCluster({ standbys: 0 });
  clusters.push(cluster);
  const primary = cluster.primary;
  const nc = await connectTestNats();
  const topology = await createTestTopology(nc, 'benchpitr');
  const services: { stop: (signal?: NodeJS.Signals) => Promise<void> }[] = [];
  let load: ChildProcess | null = null;
  const stopDirs: string[] = [];
  const cleanup = async () => {
    load?.kill('SIGTERM');
    for (const d of stopDirs) await pgCtl(d, ['-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    for (const s of services) await s.stop().catch(() => undefined);
    for (const c of clusters) await c.remove().catch(() => undefined);
    await topology.remove().catch(() => undefined);
    await nc.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    await withConnection(ADMIN_URL, (c) => c.query(`DROP DATABASE IF EXISTS "${CATALOGUE}" WITH (FORCE)`)).catch(() => undefined);
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    progress(`${BENCH}: pgbench -i -s ${options.scale} on a cluster of its own (port ${primary.port})`);
    await timed(join(PG_BIN, 'pgbench'), ['-i', '-q', '-s', String(options.scale), primary.url], 'pgbench -i');
    await primary.query('CHECKPOINT');
    const bytes = Number((await primary.query<{ n: string }>('SELECT sum(pg_database_size(datname))::text AS n FROM pg_database'))[0]!.n);
    const mb = bytes / 1e6;
    progress(`${BENCH}: cluster is ${round(mb)} MB`);

    // pgBackRest: a stanza for this cluster, its WAL archived by archive-push (a restore needs it).
    const conf = join(own(join(dir, 'pgbackrest')), 'pgbackrest.conf');
    writeFileSync(
      conf,
      [
        '[global]',
        `repo1-path=${own(join(dir, 'pgbackrest', 'repo'))}`,
        `lock-path=${own(join(dir, 'pgbackrest', 'lock'))}`,
        `log-path=${own(join(dir, 'pgbackrest', 'log'))}`,
        `spool-path=${own(join(dir, 'pgbackrest', 'spool'))}`,
        'process-max=2',
        'compress-type=lz4',
        'start-fast=y',
        'log-level-console=warn',
        'repo1-retention-full=10',
        '',
        '[bench]',
        `pg1-path=${primary.dataDir}`,
        `pg1-port=${primary.port}`,
        `pg1-socket-path=${cluster.root}`,
        'pg1-user=postgres',
        '',
      ].join('\n'),
    );
    if (asRoot) chownSync(conf, id('-u'), id('-g'));
    const pgbackrest = (args: string[]) => timed('pgbackrest', [`--config=${conf}`, '--stanza=bench', ...args], `pgbackrest ${args[0]}`, { asPostgres: true });
    await primary.query(`ALTER SYSTEM SET archive_mode = on`);
    await primary.query(`ALTER SYSTEM SET archive_command = 'pgbackrest --config=${conf} --stanza=bench archive-push %p'`);
    await primary.restart();
    await pgbackrest(['stanza-create']);

    // Ours: the service process, its WAL archive streaming from the start; one location for the
    // ratio, three (another resource name for the same cluster) for the second figure.
    await withConnection(ADMIN_URL, (c) => c.query(`CREATE DATABASE "${CATALOGUE}"`));
    const restoreRoot = own(join(dir, 'restore'));
    const config = join(dir, 'backup.yaml');
    writeFileSync(
      config,
      `resources:
  bench-cluster: { kind: postgres, site: eu-west-1a, connection: "${primary.url}", restoreTargets: ["${restoreRoot}"] }
  bench-cluster-3: { kind: postgres, site: eu-west-1a, connection: "${primary.url}", restoreTargets: ["${restoreRoot}"] }
locations:
  disk-a: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${location('a')} }
  disk-b: { kind: filesystem, site: eu-west-1b, medium: nas, path: ${location('b')} }
  disk-c: { kind: filesystem, site: eu-west-1c, medium: disk, path: ${location('c')} }
policies:
  bench: { resource: bench-cluster, method: basebackup, copies: [disk-a], threeTwoOne: { optOut: "benchmark: one location for the ratio" }, wal: { enabled: true, walShipIntervalMs: ${ASYNC_SHIP_MS} } }
  bench-3: { resource: bench-cluster-3, method: basebackup, copies: [disk-a, disk-b, disk-c] }
`,
    );
    const env = {
      ...process.env,
      CONTINUITY_NAMESPACE: topology.namespace,
      DATABASE_URL: withDb(ADMIN_URL, CATALOGUE),
      CONTINUITY_TOKENS: TEST_CONTINUITY_TOKENS,
      BACKUP_SCHEDULER: 'off',
      BACKUP_WAL_SPOOL: join(dir, 'spool'),
      LOG_LEVEL: 'warn',
      NO_COLOR: '1',
    };
    const service = await startService(config, env);
    services.push(service);

    // The same write load for every backup: pgbench -c 2 until the end of the writes.
    progress(`${BENCH}: pgbench -c 2 writing in the background`);
    load = spawn(join(PG_BIN, 'pgbench'), ['-n', '-c', '2', '-T', '3600', primary.url], { stdio: 'ignore' });
    await sleep(2_000);

    // The physical bound: pg_basebackup's tar to /dev/null.
    const devNull = openSync('/dev/null', 'w');
    const boundMs = await timed('pg_basebackup', ['-d', primary.url, '-D', '-', '-Ft', '-X', 'fetch', '-c', 'fast'], 'pg_basebackup', { stdout: devNull });
    closeSync(devNull);
    progress(`${BENCH}: pg_basebackup > /dev/null ${round(boundMs / 1000, 2)} s (${round(mb / (boundMs / 1000), 1)} MB/s)`);

    // Three locations first (the second figure), then one (the ratio), then pgBackRest.
    const ours3 = await service.backup('bench-cluster-3');
    progress(`${BENCH}: ours (3 locations) ${round(ours3.ms / 1000, 2)} s (${round(mb / (ours3.ms / 1000), 1)} MB/s)`);

    // Each tool's restore target is TARGET_AFTER_S of writes after its own backup ended, so both
    // replay the same span: their backup's own WAL and as many seconds of writes after it.
    const ours = await service.backup('bench-cluster');
    progress(`${BENCH}: ours (basebackup, zstd, 1 location) ${round(ours.ms / 1000, 2)} s (${round(mb / (ours.ms / 1000), 1)} MB/s), ${round(ours.sizeBytes / 1e6)} MB stored`);
    await sleep(TARGET_AFTER_S * 1_000);
    const target = new Date();
    const pgbrMs = await pgbackrest(['backup', '--type=full']);
    progress(`${BENCH}: pgBackRest full backup ${round(pgbrMs / 1000, 2)} s (${round(mb / (pgbrMs / 1000), 1)} MB/s)`);
    await sleep(TARGET_AFTER_S * 1_000);
    const pgbrTarget = new Date();

    // Then writes go on, and the WAL holding both targets is archived by both.
    await sleep(TARGET_AFTER_S * 1_000);
    const switched = (await primary.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name'))[0]!.name;
    await pollUntil(async () => (await primary.query<{ w: string | null }>('SELECT last_archived_wal AS w FROM pg_stat_archiver'))[0]!.w! >= switched || null, {
      what: `pgBackRest to archive ${switched}`,
      timeoutMs: 120_000,
    });
    await sleep(ASYNC_SHIP_MS + 2_000); // our archive ships the switched segment within an interval and a scan
    load.kill('SIGTERM');
    await new Promise((r) => load!.once('exit', r));
    load = null;

    const oursDir = join(restoreRoot, 'ours');
    const oursPort = await freePort();
    stopDirs.push(oursDir);
    let restoreOut = '';
    const restoreMs = await timed(
      process.execPath,
      [join(ROOT, 'services', 'backup', 'dist', 'cli', 'main.js'), 'restore', 'bench-cluster', '--at', target.toISOString(), '--to-data-dir', oursDir, '--start', '--port', String(oursPort), '--json'],
      'continuity restore --at',
      { env: { ...env, CONTINUITY_CONFIG: config }, echo: true, onStdout: (text) => (restoreOut += text) },
    );
    await answers(oursPort);
    // The CLI's --json line: where the data recovery spent its time; the rest of restoreMs is the CLI's own start and exit.
    const phases = (JSON.parse(restoreOut.trim().split('\n').pop()!) as { recovery: { durationMs: number; phases: Record<string, number> } }).recovery;
    const restorePhasesS = Object.fromEntries([
      ['cli', round((restoreMs - phases.durationMs) / 1000, 2)],
      ...Object.entries(phases.phases).map(([name, ms]) => [name.replace(/Ms$/, ''), round(ms / 1000, 2)]),
    ]) as Record<string, number>;
    progress(`${BENCH}: ours restore to ${TARGET_AFTER_S} s of writes after its backup + start ${round(restoreMs / 1000, 2)} s (${Object.entries(restorePhasesS).map(([k, v]) => `${k} ${v} s`).join(', ')})`);
    await pgCtl(oursDir, ['-m', 'fast', '-w', 'stop']);

    const pgbrDir = own(join(restoreRoot, 'pgbackrest'));
    const pgbrPort = await freePort();
    const pgbrStarted = performance.now();
    await pgbackrest(['restore', `--pg1-path=${pgbrDir}`, '--type=time', `--target=${pgTime(pgbrTarget)}`, '--target-action=promote']);
    stopDirs.push(pgbrDir);
    await pgCtl(pgbrDir, ['-o', `-p ${pgbrPort}`, '-l', join(dir, 'pgbackrest', 'restored.log'), 'start']);
    await answers(pgbrPort);
    const pgbrRestoreMs = performance.now() - pgbrStarted;
    progress(`${BENCH}: pgBackRest restore to ${TARGET_AFTER_S} s of writes after its backup + start ${round(pgbrRestoreMs / 1000, 2)} s`);
    await pgCtl(pgbrDir, ['-m', 'fast', '-w', 'stop']);
    await service.stop();
    services.splice(0);

    // The archive's loss: a small cluster each, synchronous and asynchronous.
    const syncCluster = await createPgCluster({ standbys: 0 });
    const asyncCluster = await createPgCluster({ standbys: 0 });
    clusters.push(syncCluster, asyncCluster);
    const rpoConfig = join(dir, 'rpo.yaml');
    writeFileSync(
      rpoConfig,
      `resources:
  rpo-sync: { kind: postgres, site: eu-west-1a, connection: "${syncCluster.primary.url}", restoreTargets: ["${restoreRoot}"] }
  rpo-async: { kind: postgres, site: eu-west-1a, connection: "${asyncCluster.primary.url}", restoreTargets: ["${restoreRoot}"] }
locations:
  disk-a: { kind: filesystem, site: eu-west-1b, medium: disk, path: ${location('a')} }
policies:
  rpo-sync: { resource: rpo-sync, method: basebackup, copies: [disk-a], threeTwoOne: { optOut: benchmark }, wal: { enabled: true, walShipIntervalMs: 60000, synchronous: true, setSynchronousStandbyNames: true } }
  rpo-async: { resource: rpo-async, method: basebackup, copies: [disk-a], threeTwoOne: { optOut: benchmark }, wal: { enabled: true, walShipIntervalMs: ${ASYNC_SHIP_MS} } }
`,
    );
    const rpoService = await startService(rpoConfig, env);
    services.push(rpoService);
    await pollUntil(
      async () => (await syncCluster.primary.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_replication WHERE sync_state = 'sync'"))[0]!.n > 0 || null,
      { what: 'the archiver to be the synchronous standby', timeoutMs: 60_000 },
    );
    const restoreLatest = async (resource: string) => {
      const dataDir = join(restoreRoot, resource);
      const port = await freePort();
      stopDirs.push(dataDir);
      await timed(process.execPath, [join(ROOT, 'services', 'backup', 'dist', 'cli', 'main.js'), 'restore', resource, '--latest', '--to-data-dir', dataDir, '--start', '--port', String(port)], `continuity restore ${resource} --latest`, {
        env: { ...env, CONTINUITY_CONFIG: rpoConfig },
      });
      const client = await connect(`postgres://postgres@127.0.0.1:${port}/postgres`);
      try {
        return new Set((await client.query<{ id: string }>('SELECT id::text FROM items')).rows.map((r) => Number(r.id)));
      } finally {
        await client.end();
        await pgCtl(dataDir, ['-m', 'fast', '-w', 'stop']);
      }
    };
    const writers = { sync: await startCommitWriter(syncCluster.primary.url), async: await startCommitWriter(asyncCluster.primary.url) };
    await rpoService.backup('rpo-sync');
    await rpoService.backup('rpo-async');
    await sleep(8_000);

    // Synchronous: the primary lost; the archiver ships what it acknowledged.
    syncCluster.primary.kill9();
    await writers.sync.stop();
    await sleep(3_000);
    const syncRows = await restoreLatest('rpo-sync');
    const lostSync = writers.sync.acked.filter((a) => !syncRows.has(a.id)).length;
    progress(`${BENCH}: synchronous archive: ${writers.sync.acked.length} commits acknowledged, ${lostSync} missing after kill -9 and --latest`);

    // Asynchronous: the primary and the backup service (its spool) lost at once.
    asyncCluster.primary.kill9();
    await rpoService.stop('SIGKILL');
    await writers.async.stop();
    const asyncRows = await restoreLatest('rpo-async');
    const lastAcked = writers.async.acked[writers.async.acked.length - 1]!;
    const lastKept = [...writers.async.acked].reverse().find((a) => asyncRows.has(a.id));
    const rpoAsyncS = (lastAcked.at - (lastKept?.at ?? writers.async.acked[0]!.at)) / 1000;
    progress(`${BENCH}: asynchronous archive (ship every ${ASYNC_SHIP_MS / 1000} s): ${round(rpoAsyncS, 2)} s of commits lost with the primary and the archiver`);

    await cleanup();
    const value = round(mb / (ours.ms / 1000), 1);
    const baseline = round(mb / (pgbrMs / 1000), 1);
    printResult({
      bench: BENCH,
      value,
      baseline,
      ratio: round(value / baseline, 3),
      restore_s: round(restoreMs / 1000, 2),
      pgbackrest_restore_s: round(pgbrRestoreMs / 1000, 2),
      restore_ratio: round(pgbrRestoreMs / restoreMs, 3),
      restore_phases_s: restorePhasesS,
      lost_commits_sync: lostSync,
      rpo_async_s: round(rpoAsyncS, 2),
      value_3_copies: round(mb / (ours3.ms / 1000), 1),
      pg_basebackup_bound_mb_s: round(mb / (boundMs / 1000), 1),
      baseline_tool: 'pgbackrest',
      unit: 'MB/s of cluster',
      load: 'pgbench -c 2 throughout both backups',
      restore_target_after_backup_s: TARGET_AFTER_S,
      async_ship_interval_s: ASYNC_SHIP_MS / 1000,
      cluster_mb: round(mb),
      stored_mb: round(ours.sizeBytes / 1e6),
      scale: options.scale,
    });
  } catch (error) {
    await cleanup();
    throw error;
  }
};

const withDb = (url: string, db: string) => {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
};

main().catch((error) => {
  progress(`${BENCH}: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
