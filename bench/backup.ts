/**
 * Backup throughput: a ~1 GB PostgreSQL database (`pgbench -i -s 60`) backed up by the backup
 * service to three filesystem copies, versus its physical baseline `pg_dump --format=custom
 * --verbose` of the same database (its dump to /dev/null, its stderr read from a pipe), in the
 * same run. Both rates are the database's size (pg_database_size, MB = 10^6 bytes) over wall time;
 * the ratio is project / baseline (goal ≥ 0.8). The baseline passes pg_dump the options the
 * service passes it that any user could, so that both do the same pg_dump work: `--verbose`,
 * because the service reads pg_dump's progress lines to follow the dump (it counts each table's
 * rows as pg_dump starts copying it), in untranslated messages; not the service's `--snapshot`,
 * which needs the service's own session.
 *
 * The project path is the real service process (`services/backup/dist/main.js`), triggered with
 * `POST /backups` and timed until its `BackupCreated` reaches a subscriber on the bus. It is
 * published after the catalogue said created (every copy fsync'd, renamed, manifest written): a
 * later moment than polling `GET /backups/:id` would see, without the polling's 20 requests a
 * second (in a profile, half the service's JavaScript time per backup, on the dump's cores) or
 * its 50 ms resolution. `GET /backups/:id` must then say created. Its peak memory is the
 * process's VmHWM (goal < 200 MB).
 *
 * The scratch database `continuity_bench_backup_s<scale>` is created once and reused; pass
 * `--drop` to drop it at the end. Rounds alternate baseline and project; the medians are reported.
 * Usage: `npm run bench -- backup [--scale 60] [--rounds 3] [--drop]`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { freePort, withConnection } from '@continuity/runtime';
import { bearer, TEST_CONTINUITY_TOKENS } from '@continuity/runtime/testing';
import { eventSubject } from '@continuity/contracts';
import type * as PgToolModule from '../services/backup/src/backup-run/sources/pg-tool.js';
import { intOption, median, printResult, progress, round } from './lib/report.js';

// The service's built code (services/backup/dist, via the workspace link), typed from its sources:
// pg_dump's messages untranslated as the service runs it.
const { untranslatedMessages } = require('@continuity/backup/dist/backup-run/sources/pg-tool.js') as typeof PgToolModule;

const BENCH = 'backup';
const options = (() => {
  try {
    return {
      scale: intOption('scale', 'BENCH_SCALE', 60),
      rounds: intOption('rounds', 'BENCH_ROUNDS', 3),
      drop: process.argv.includes('--drop'),
    };
  } catch (error) {
    progress(`${BENCH}: ${(error as Error).message}\nusage: npm run bench -- ${BENCH} [--scale 60] [--rounds 3] [--drop]`);
    process.exit(2);
  }
})();

const ROOT = join(__dirname, '..', '..');
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const urlOf = (db: string) => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${db}`;
  return url.toString();
};
const SCRATCH = `continuity_bench_backup_s${options.scale}`;
const CATALOGUE = `continuity_bench_backup_catalogue_${process.pid}`;

const admin = <T>(work: (c: Client) => Promise<T>) => withConnection(ADMIN_URL, work);

/** Creates and fills the scratch database once; a complete one (marker table) is reused. */
const ensureScratch = async () => {
  const ready = await admin(async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [SCRATCH])).rowCount === 1);
  if (ready) {
    const c = new Client({ connectionString: urlOf(SCRATCH) });
    await c.connect();
    const marked = (await c.query(`SELECT to_regclass('public.continuity_bench_ready') IS NOT NULL AS ok`)).rows[0].ok as boolean;
    await c.end();
    if (marked) return progress(`${BENCH}: reusing database ${SCRATCH}`);
    await admin((c2) => c2.query(`DROP DATABASE "${SCRATCH}" WITH (FORCE)`));
  }
  progress(`${BENCH}: creating ${SCRATCH} with pgbench -i -s ${options.scale} (once; reused by later runs, --drop removes it)`);
  await admin((c) => c.query(`CREATE DATABASE "${SCRATCH}"`));
  const init = spawnSync('pgbench', ['-i', '-s', String(options.scale), '-q', urlOf(SCRATCH)], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (init.status !== 0) throw new Error(`pgbench -i failed (exit ${init.status ?? init.signal})`);
  const c = new Client({ connectionString: urlOf(SCRATCH) });
  await c.connect();
  await c.query('CREATE TABLE continuity_bench_ready (at timestamptz DEFAULT now())');
  await c.end();
};

const baseline = async (): Promise<number> => {
  const devNull = openSync('/dev/null', 'w');
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('pg_dump', ['--format=custom', '--verbose', '--no-password', `--dbname=${urlOf(SCRATCH)}`], {
      stdio: ['ignore', devNull, 'pipe'],
      env: untranslatedMessages(process.env),
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg_dump exited with ${code}: ${stderr}`))));
  });
  closeSync(devNull);
  return performance.now() - started;
};

const peakRssMb = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kb / 1024;
};

const main = async () => {
  await ensureScratch();
  const dbBytes = await admin(async (c) => Number((await c.query('SELECT pg_database_size($1)::text AS n', [SCRATCH])).rows[0].n));
  const mb = dbBytes / 1e6;
  progress(`${BENCH}: ${SCRATCH} is ${round(mb)} MB`);
  await admin((c) => c.query(`CREATE DATABASE "${CATALOGUE}"`));
  const nc = await connectTestNats();
  const topology = await createTestTopology(nc, 'benchbk');
  const dir = mkdtempSync(join(tmpdir(), 'continuity-bench-backup-'));
  const config = join(dir, 'backup.yaml');
  writeFileSync(
    config,
    `resources:
  bench-db: { kind: postgres, site: eu-west-1a, connection: "${urlOf(SCRATCH)}" }
locations:
  disk-a: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${dir}/a }
  nas-b: { kind: filesystem, site: eu-west-1b, medium: nas, path: ${dir}/b }
  usb-c: { kind: filesystem, site: eu-central-1, medium: usb, path: ${dir}/c }
policies:
  bench: { resource: bench-db, copies: [disk-a, nas-b, usb-c] }
`,
  );
  const port = await freePort();
  const service = spawn(process.execPath, [join(ROOT, 'services', 'backup', 'dist', 'main.js')], {
    env: {
      ...process.env,
      PORT: String(port),
      CONTINUITY_CONFIG: config,
      CONTINUITY_NAMESPACE: topology.namespace,
      DATABASE_URL: urlOf(CATALOGUE),
      BACKUP_SCHEDULER: 'off',
      CONTINUITY_TOKENS: TEST_CONTINUITY_TOKENS,
      LOG_LEVEL: 'warn',
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const cleanup = async () => {
    service.kill('SIGTERM');
    await new Promise((resolve) => (service.exitCode !== null ? resolve(null) : service.once('exit', resolve)));
    await topology.remove().catch(() => undefined);
    await nc.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${CATALOGUE}" WITH (FORCE)`)).catch(() => undefined);
    if (options.drop) {
      progress(`${BENCH}: dropping ${SCRATCH} (--drop)`);
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${SCRATCH}" WITH (FORCE)`));
    }
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    await pollUntil(async () => (await fetch(`${base}/health/ready`).catch(() => null))?.ok, { what: 'the backup service to be ready', timeoutMs: 30_000 });
    /** Arrival of each backup's BackupCreated or BackupFailed, by backup id. */
    const ended = new Map<string, { at: number; type: string }>();
    let arrived: (() => void) | null = null;
    for (const type of ['BackupCreated', 'BackupFailed']) {
      nc.subscribe(eventSubject(type, 'bench-db', topology), {
        callback: (error, msg) => {
          if (error) return;
          const event = msg.json<{ type: string; data: { backupId: string } }>();
          ended.set(event.data.backupId, { at: performance.now(), type: event.type });
          arrived?.();
        },
      });
    }
    await nc.flush();
    const project = async (): Promise<{ ms: number; sizeBytes: number }> => {
      const started = performance.now();
      const response = await fetch(`${base}/backups`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer('operator') }, body: JSON.stringify({ resource: 'bench-db' }) });
      if (response.status !== 202) throw new Error(`POST /backups: ${response.status} ${await response.text()}`);
      const { backupId } = (await response.json()) as { backupId: string };
      const deadline = setTimeout(() => arrived?.(), 1_800_000);
      while (!ended.has(backupId) && performance.now() - started < 1_800_000) await new Promise<void>((resolve) => (arrived = resolve));
      clearTimeout(deadline);
      const end = ended.get(backupId);
      const record = (await (await fetch(`${base}/backups/${backupId}`, { headers: bearer('viewer') })).json()) as { state: string; sizeBytes: number; error: unknown };
      if (end?.type !== 'BackupCreated' || record.state !== 'created') throw new Error(`backup ${backupId} ${end?.type ?? 'did not end'}: ${JSON.stringify(record)}`);
      const done = { ms: end.at - started, sizeBytes: record.sizeBytes };
      const ms = done.ms;
      for (const copy of ['a', 'b', 'c']) rmSync(join(dir, copy), { recursive: true, force: true });
      return { ms, sizeBytes: done.sizeBytes };
    };
    const baselineMs: number[] = [];
    const projectMs: number[] = [];
    let dumpBytes = 0;
    for (let r = 1; r <= options.rounds; r++) {
      const b = await baseline();
      baselineMs.push(b);
      progress(`${BENCH}: round ${r}: pg_dump --verbose > /dev/null ${round(b / 1000, 2)} s (${round(mb / (b / 1000), 1)} MB/s)`);
      const p = await project();
      projectMs.push(p.ms);
      dumpBytes = p.sizeBytes;
      progress(`${BENCH}: round ${r}: service, 3 copies ${round(p.ms / 1000, 2)} s (${round(mb / (p.ms / 1000), 1)} MB/s), dump ${round(p.sizeBytes / 1e6)} MB`);
    }
    const rss = peakRssMb(service.pid!);
    const value = round(mb / (median(projectMs) / 1000), 1);
    const baselineRate = round(mb / (median(baselineMs) / 1000), 1);
    await cleanup();
    printResult({
      bench: BENCH,
      value,
      baseline: baselineRate,
      ratio: round(value / baselineRate, 3),
      peak_rss_mb: round(rss, 1),
      unit: 'MB/s of database',
      db_mb: round(mb),
      dump_mb: round(dumpBytes / 1e6),
      copies: 3,
      rounds: options.rounds,
    });
  } catch (error) {
    await cleanup();
    throw error;
  }
};

main().catch((error) => {
  progress(`${BENCH}: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
