/**
 * Base backups and their restore: a pgbench cluster (`pgbench -i -s 60` ≈ 900 MB, its own
 * PostgreSQL on a free port) backed up by the backup service (`method: basebackup`, one
 * filesystem location: pg_basebackup's tar, zstd, SHA-256, fsync) against pgBackRest's full
 * backup of the same cluster (`process-max=2`, `compress-type=lz4`, one local repository, WAL
 * archived by `archive-push` as pgBackRest needs to restore), and `pg_basebackup -D - -Ft -X fetch
 * > /dev/null` as the physical bound of the read side. Rates are the cluster's size (sum of
 * pg_database_size, MB = 10^6 bytes) over wall time. Then the restores: ours is the CLI's
 * `restore --to-data-dir --start --port` (fetch, hash, decompress, extract, pg_verifybackup,
 * pg_ctl start, first answered query) against `pgbackrest restore --type=immediate` + pg_ctl start
 * until the server is promoted and answers.
 *
 * pgBackRest is Debian's package (installed with apt-get when missing). Usage:
 * `npm run bench -- pitr [--scale 60]`. The last stdout line is the JSON result.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { freePort, withConnection } from '@continuity/runtime';
import { bearer, createPgCluster, PG_BIN, TEST_CONTINUITY_TOKENS } from '@continuity/runtime/testing';
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
const asRoot = process.getuid?.() === 0;
const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());

/** Runs a command (as the postgres OS user when we are root: pgBackRest and the server run as it); resolves with its wall time. */
const timed = (command: string, args: string[], what: string, opts: { asPostgres?: boolean; stdout?: number; env?: NodeJS.ProcessEnv } = {}) =>
  new Promise<number>((resolve, reject) => {
    const [cmd, argv] = opts.asPostgres && asRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
    const started = performance.now();
    const child = spawn(cmd, argv, { stdio: ['ignore', opts.stdout ?? 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    child.stdout?.on('data', () => undefined);
    child.once('error', (error) => reject(new Error(`${what}: ${error.message}`)));
    child.once('close', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${what} exited with ${code}: ${stderr.trim()}`))));
  });

const ensurePgBackRest = () => {
  if (spawnSync('pgbackrest', ['version']).status === 0) return;
  progress(`${BENCH}: installing pgbackrest (apt-get)`);
  spawnSync('apt-get', ['install', '-y', '-qq', 'pgbackrest'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (spawnSync('pgbackrest', ['version']).status !== 0) throw new Error('pgbackrest is not installed and apt-get could not install it');
};

/** Until the server on `port` answers as a primary. */
const answers = (port: number) =>
  pollUntil(
    async () => {
      const c = new Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 2_000 });
      c.on('error', () => undefined);
      try {
        await c.connect();
        return !(await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r;
      } finally {
        await c.end().catch(() => undefined);
      }
    },
    { what: `the restored server on port ${port}`, timeoutMs: 600_000, intervalMs: 20 },
  );

const pgCtl = (dataDir: string, args: string[]) => timed(join(PG_BIN, 'pg_ctl'), ['-D', dataDir, ...args], `pg_ctl ${args.join(' ')}`, { asPostgres: true });

const main = async () => {
  ensurePgBackRest();
  const dir = mkdtempSync(join(tmpdir(), 'continuity-bench-pitr-'));
  chmodSync(dir, 0o755); // the servers and pgBackRest run as postgres
  const own = (path: string) => {
    mkdirSync(path, { recursive: true });
    if (asRoot) chownSync(path, id('-u'), id('-g'));
    return path;
  };
  const cluster = await createPgCluster({ standbys: 0 });
  const primary = cluster.primary;
  const nc = await connectTestNats();
  const topology = await createTestTopology(nc, 'benchpitr');
  let service: ReturnType<typeof spawn> | null = null;
  const stopDirs: string[] = [];
  const cleanup = async () => {
    for (const d of stopDirs) await pgCtl(d, ['-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    if (service) {
      service.kill('SIGTERM');
      await new Promise((resolve) => (service!.exitCode !== null ? resolve(null) : service!.once('exit', resolve)));
    }
    await cluster.remove();
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

    // The physical bound: pg_basebackup's tar to /dev/null.
    const devNull = openSync('/dev/null', 'w');
    const boundMs = await timed('pg_basebackup', ['-d', primary.url, '-D', '-', '-Ft', '-X', 'fetch', '-c', 'fast'], 'pg_basebackup', { stdout: devNull });
    closeSync(devNull);
    progress(`${BENCH}: pg_basebackup > /dev/null ${round(boundMs / 1000, 2)} s (${round(mb / (boundMs / 1000), 1)} MB/s)`);

    const pgbrMs = await pgbackrest(['backup', '--type=full']);
    progress(`${BENCH}: pgBackRest full backup ${round(pgbrMs / 1000, 2)} s (${round(mb / (pgbrMs / 1000), 1)} MB/s)`);

    // Ours: the service process, one filesystem location.
    await withConnection(ADMIN_URL, (c) => c.query(`CREATE DATABASE "${CATALOGUE}"`));
    const config = join(dir, 'backup.yaml');
    writeFileSync(
      config,
      `resources:
  bench-cluster: { kind: postgres, site: eu-west-1a, connection: "${primary.url}", restoreTargets: ["${join(dir, 'restore')}"] }
locations:
  disk-a: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${join(dir, 'a')} }
policies:
  bench: { resource: bench-cluster, method: basebackup, copies: [disk-a], threeTwoOne: { optOut: "benchmark: one location for the ratio" } }
`,
    );
    const env = {
      ...process.env,
      CONTINUITY_CONFIG: config,
      CONTINUITY_NAMESPACE: topology.namespace,
      DATABASE_URL: withDb(ADMIN_URL, CATALOGUE),
      CONTINUITY_TOKENS: TEST_CONTINUITY_TOKENS,
      BACKUP_SCHEDULER: 'off',
      LOG_LEVEL: 'warn',
      NO_COLOR: '1',
    };
    const port = await freePort();
    service = spawn(process.execPath, [join(ROOT, 'services', 'backup', 'dist', 'main.js')], { env: { ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'] });
    const base = `http://127.0.0.1:${port}`;
    await pollUntil(async () => (await fetch(`${base}/health/ready`).catch(() => null))?.ok, { what: 'the backup service to be ready', timeoutMs: 30_000 });
    const started = performance.now();
    const response = await fetch(`${base}/backups`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer('operator') }, body: JSON.stringify({ resource: 'bench-cluster' }) });
    if (response.status !== 202) throw new Error(`POST /backups: ${response.status} ${await response.text()}`);
    const { backupId } = (await response.json()) as { backupId: string };
    const done = await pollUntil(
      async () => {
        const b = (await (await fetch(`${base}/backups/${backupId}`, { headers: bearer('viewer') })).json()) as { state: string; sizeBytes: number; error: unknown };
        if (b.state === 'failed') throw new Error(`backup failed: ${JSON.stringify(b.error)}`);
        return b.state === 'created' ? b : null;
      },
      { what: 'the base backup', timeoutMs: 1_800_000, intervalMs: 20 },
    );
    const oursMs = performance.now() - started;
    progress(`${BENCH}: ours (basebackup, zstd, 1 location) ${round(oursMs / 1000, 2)} s (${round(mb / (oursMs / 1000), 1)} MB/s), ${round(done.sizeBytes / 1e6)} MB stored`);

    // Restores, each started on a free port until it answers as a primary.
    own(join(dir, 'restore'));
    const oursDir = join(dir, 'restore', 'ours');
    const oursPort = await freePort();
    stopDirs.push(oursDir);
    const restoreMs = await timed(process.execPath, [join(ROOT, 'services', 'backup', 'dist', 'cli', 'main.js'), 'restore', backupId, '--to-data-dir', oursDir, '--start', '--port', String(oursPort), '--no-progress'], 'continuity restore', { env });
    await answers(oursPort);
    progress(`${BENCH}: ours restore + start ${round(restoreMs / 1000, 2)} s`);
    await pgCtl(oursDir, ['-m', 'fast', '-w', 'stop']);

    const pgbrDir = own(join(dir, 'restore', 'pgbackrest'));
    const pgbrPort = await freePort();
    const pgbrStarted = performance.now();
    await pgbackrest(['restore', `--pg1-path=${pgbrDir}`, '--type=immediate', '--target-action=promote']);
    stopDirs.push(pgbrDir);
    await pgCtl(pgbrDir, ['-o', `-p ${pgbrPort}`, '-l', join(dir, 'pgbackrest', 'restored.log'), 'start']);
    await answers(pgbrPort);
    const pgbrRestoreMs = performance.now() - pgbrStarted;
    progress(`${BENCH}: pgBackRest restore + start ${round(pgbrRestoreMs / 1000, 2)} s`);

    await cleanup();
    const value = round(mb / (oursMs / 1000), 1);
    const baseline = round(mb / (pgbrMs / 1000), 1);
    printResult({
      bench: BENCH,
      value,
      baseline,
      ratio: round(value / baseline, 3),
      restore_s: round(restoreMs / 1000, 2),
      pgbackrest_restore_s: round(pgbrRestoreMs / 1000, 2),
      restore_ratio: round(pgbrRestoreMs / restoreMs, 3),
      pg_basebackup_bound_mb_s: round(mb / (boundMs / 1000), 1),
      baseline_tool: 'pgbackrest',
      unit: 'MB/s of cluster',
      cluster_mb: round(mb),
      stored_mb: round(done.sizeBytes / 1e6),
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
