/**
 * Verification throughput: the verifier re-hashing a 1 GiB copy (its real code path: `checkCopy`
 * with the `file://` reader, restore test off) versus `openssl dgst -sha256` on the same file, in
 * the same run, page cache warm for both (the file is read once before timing). MB = 10^6 bytes;
 * rounds alternate which goes first; medians are reported. Goal: ratio ≥ 0.9.
 *
 * `--restore` also times the PostgreSQL restore test (scratch database, pg_restore, checks, drop)
 * on the backup benchmark's database (`continuity_bench_backup_s<scale>`, created with pgbench if
 * missing) against `pg_restore` alone into an empty database, reported as extra fields:
 * `restore_ratio` against one `pg_restore`, `restore_jobs_ratio` against `pg_restore --jobs` with
 * the same jobs (`restore_jobs`, min(4, cores)), both of the test's measured restore (opening the
 * copy to pg_restore's exit: the RTO it records); `restore_test_ratio` of one `pg_restore` against
 * the whole test (`restore_test_total_s`: table of contents, scratch database, restore, checks,
 * drop), which the baseline does none of; and the same test on a copy that cannot be opened
 * as a local file, staged to a scratch file for `--jobs` and streamed to one pg_restore
 * (`restore_test_staged_s`, `restore_test_streamed_s`: staging pays when the first is smaller).
 * `--restore-rounds R` repeats each of these R times (rotating their order) and reports medians.
 * The restore test runs with the verifier's default session settings (`synchronous_commit=off` into
 * its scratch database, `maintenance_work_mem` 512MB: decisions 0038, 0049); the baseline is
 * `pg_restore --no-owner --no-privileges` as an operator runs it, with the server's settings.
 *
 * Usage: `npm run bench -- verify [--size-mib 1024] [--rounds 5] [--restore [--restore-rounds 1]] [--scale 60]`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client, Pool } from 'pg';
import { DEFAULT_RESTORE_MAINTENANCE_WORK_MEM, defaultRestoreJobs, withConnection } from '@continuity/runtime';
import type * as CopyCheckModule from '../services/verifier/src/copies/copy-check.js';
import type * as CopyReaderModule from '../services/verifier/src/copies/copy-reader.js';
import type * as FileReaderModule from '../services/verifier/src/copies/file.reader.js';
import type * as LivenessModule from '../services/verifier/src/liveness/instance-liveness.js';
import type * as PostgresTestModule from '../services/verifier/src/restore-test/postgres.restore-test.js';
import type * as ScratchModule from '../services/verifier/src/restore-test/scratch.js';
import type * as StoreModule from '../services/verifier/src/verification/verification.store.js';
import { intOption, median, printResult, progress, round } from './lib/report.js';

// The verifier's built code (services/verifier/dist, via the workspace link and its package
// exports), typed from its sources.
const { checkCopy } = require('@continuity/verifier/copies/copy-check.js') as typeof CopyCheckModule;
const { CopyReaders } = require('@continuity/verifier/copies/copy-reader.js') as typeof CopyReaderModule;
const { FileCopyReader } = require('@continuity/verifier/copies/file.reader.js') as typeof FileReaderModule;

const BENCH = 'verify';
const options = (() => {
  try {
    return {
      sizeMib: intOption('size-mib', 'BENCH_SIZE_MIB', 1024),
      rounds: intOption('rounds', 'BENCH_ROUNDS', 5),
      scale: intOption('scale', 'BENCH_SCALE', 60),
      restore: process.argv.includes('--restore'),
      restoreRounds: intOption('restore-rounds', 'BENCH_RESTORE_ROUNDS', 1),
    };
  } catch (error) {
    progress(`${BENCH}: ${(error as Error).message}\nusage: npm run bench -- ${BENCH} [--size-mib 1024] [--rounds 5] [--restore [--restore-rounds 1]] [--scale 60]`);
    process.exit(2);
  }
})();

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const urlOf = (db: string) => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${db}`;
  return url.toString();
};
const admin = <T>(work: (c: Client) => Promise<T>) => withConnection(ADMIN_URL, work);

/** Writes `bytes` of random data (incompressible; hashing speed does not depend on content). */
const makeFile = async (path: string, bytes: number) => {
  const out = createWriteStream(path);
  const block = randomBytes(16 << 20);
  for (let written = 0; written < bytes; written += block.length) {
    const chunk = block.subarray(0, Math.min(block.length, bytes - written));
    block[0]! ^= 1; // no two blocks alike
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
};

const sha256File = async (path: string) => {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
};

const openssl = async (path: string): Promise<{ ms: number; sha256: string }> => {
  const started = performance.now();
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn('openssl', ['dgst', '-sha256', '-r', path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`openssl exited with ${code}`))));
  });
  return { ms: performance.now() - started, sha256: stdout.split(' ')[0]! };
};

/** The restore test on the backup benchmark's database versus pg_restore alone (`--restore`). */
const restoreComparison = async (dir: string) => {
  const Scratch = (require('@continuity/verifier/restore-test/scratch.js') as typeof ScratchModule).Scratch;
  const { PostgresRestoreTest } = require('@continuity/verifier/restore-test/postgres.restore-test.js') as typeof PostgresTestModule;
  const { InstanceLiveness } = require('@continuity/verifier/liveness/instance-liveness.js') as typeof LivenessModule;
  const { VerificationStore } = require('@continuity/verifier/verification/verification.store.js') as typeof StoreModule;
  const source = `continuity_bench_backup_s${options.scale}`;
  const exists = await admin(async (c) => (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [source])).rowCount === 1);
  if (!exists) {
    progress(`${BENCH}: creating ${source} with pgbench -i -s ${options.scale} (shared with the backup benchmark)`);
    await admin((c) => c.query(`CREATE DATABASE "${source}"`));
    const init = spawnSync('pgbench', ['-i', '-s', String(options.scale), '-q', urlOf(source)], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (init.status !== 0) throw new Error(`pgbench -i failed (exit ${init.status ?? init.signal})`);
    const c = new Client({ connectionString: urlOf(source) });
    await c.connect();
    await c.query('CREATE TABLE IF NOT EXISTS continuity_bench_ready (at timestamptz DEFAULT now())');
    await c.end();
  }
  const dbMb = (await admin(async (c) => Number((await c.query('SELECT pg_database_size($1)::text AS n', [source])).rows[0].n))) / 1e6;
  const dump = join(dir, 'bench.dump');
  progress(`${BENCH}: pg_dump of ${source} (${round(dbMb)} MB) to ${dump}`);
  const dumped = spawnSync('pg_dump', ['--format=custom', `--file=${dump}`, `--dbname=${urlOf(source)}`], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (dumped.status !== 0) throw new Error(`pg_dump failed (exit ${dumped.status ?? dumped.signal})`);
  const sha256 = await sha256File(dump);

  const target = `continuity_bench_verify_restore_${process.pid}`;
  const verifierDb = `continuity_bench_verify_${process.pid}`;
  await admin((c) => c.query(`CREATE DATABASE "${verifierDb}"`));
  const pool = new Pool({ connectionString: urlOf(verifierDb), max: 2 });
  const liveness = new InstanceLiveness(urlOf(verifierDb), pool);
  try {
    await new VerificationStore(pool).migrate();
    await liveness.start();
    const jobs = defaultRestoreJobs();
    /** `pg_restore` alone of the dump file into an empty database, with `--jobs` when given. */
    const pgRestoreAlone = async (extra: string[]) => {
      await admin((c) => c.query(`CREATE DATABASE "${target}" TEMPLATE template0`));
      const started = performance.now();
      const restored = spawnSync('pg_restore', ['--no-owner', '--no-privileges', ...extra, `--dbname=${urlOf(target)}`, dump], { stdio: ['ignore', 'inherit', 'inherit'] });
      const ms = performance.now() - started;
      if (restored.status !== 0) throw new Error(`pg_restore failed (exit ${restored.status ?? restored.signal})`);
      await admin((c) => c.query(`DROP DATABASE "${target}" WITH (FORCE)`));
      return ms;
    };
    const pgRestore = async (extra: string[]) => {
      const ms = await pgRestoreAlone(extra);
      progress(`${BENCH}: pg_restore ${extra.join(' ')} alone: ${round(ms / 1000, 2)} s`);
      return ms;
    };

    const scratch = new Scratch(pool, liveness, { adminUrl: urlOf(verifierDb), prefix: `continuity_verify_bench${process.pid}_`, dir, restoreRole: 'continuity_verifier_restore' });
    const fileReader = new FileCopyReader([dir]);
    // The same file read as a copy that cannot be opened as a local file (an object store's): it is
    // staged to a scratch file for --jobs, or streamed to one pg_restore with one job.
    const streamOnly: typeof fileReader = Object.assign(Object.create(fileReader) as typeof fileReader, { openFile: undefined });
    const restoreTest = async (label: string, testJobs: number, reader: typeof fileReader) => {
      // Tuned as the verifier is by default (VERIFIER_RESTORE_MAINTENANCE_WORK_MEM unset).
      const tester = new PostgresRestoreTest(scratch, { assertionTimeoutMs: 60_000, assertionsFor: () => [], jobs: testJobs, maintenanceWorkMem: DEFAULT_RESTORE_MAINTENANCE_WORK_MEM });
      const started = performance.now();
      const outcome = await tester.run({
        backupId: '00000000-0000-7000-8000-000000000000',
        resource: 'bench-db',
        copy: { location: 'bench', uri: pathToFileURL(dump).href, sizeBytes: statSync(dump).size },
        reader,
        encryption: null,
        identities: [],
        plaintext: { sha256, sizeBytes: 0 },
        manifest: null,
        signal: new AbortController().signal,
      });
      const testMs = performance.now() - started;
      if (outcome.result.status !== 'passed') throw new Error(`restore test did not pass: ${JSON.stringify(outcome.result.checks)}`);
      progress(`${BENCH}: restore test (${label}): restore ${round(outcome.result.durationMs / 1000, 2)} s, whole test (TOC, scratch database, checks, drop) ${round(testMs / 1000, 2)} s`);
      return { restoreMs: outcome.result.durationMs, testMs };
    };
    // Each variant once per round, the order rotated every round; medians reported.
    const variants = [
      () => pgRestore([]),
      () => pgRestore([`--jobs=${jobs}`]),
      () => restoreTest(`local file, --jobs=${jobs}`, jobs, fileReader),
      () => restoreTest(`not seekable, staged, --jobs=${jobs}`, jobs, streamOnly),
      () => restoreTest('not seekable, streamed, one job', 1, streamOnly),
    ] as const;
    const times: number[][] = variants.map(() => []);
    const tests: number[] = [];
    for (let r = 0; r < options.restoreRounds; r++) {
      for (let k = 0; k < variants.length; k++) {
        const i = (k + r) % variants.length;
        const result = await variants[i]!();
        times[i]!.push(typeof result === 'number' ? result : result.restoreMs);
        if (i === 2 && typeof result !== 'number') tests.push(result.testMs);
      }
    }
    const [pgRestoreMs, pgRestoreJobsMs, localMs, stagedMs, streamedMs] = times.map((t) => median(t)) as [number, number, number, number, number];
    const local = { restoreMs: localMs, testMs: median(tests) };
    const staged = { restoreMs: stagedMs };
    const streamed = { restoreMs: streamedMs };
    return {
      db_mb: round(dbMb),
      restore_jobs: jobs,
      pg_restore_s: round(pgRestoreMs / 1000, 2),
      pg_restore_jobs_s: round(pgRestoreJobsMs / 1000, 2),
      restore_test_restore_s: round(local.restoreMs / 1000, 2),
      restore_test_total_s: round(local.testMs / 1000, 2),
      restore_ratio: round(pgRestoreMs / local.restoreMs, 3),
      restore_test_ratio: round(pgRestoreMs / local.testMs, 3),
      restore_jobs_ratio: round(pgRestoreJobsMs / local.restoreMs, 3),
      restore_test_staged_s: round(staged.restoreMs / 1000, 2),
      restore_test_streamed_s: round(streamed.restoreMs / 1000, 2),
      restore_rounds: options.restoreRounds,
    };
  } finally {
    await liveness.stop();
    await pool.end();
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${target}" WITH (FORCE)`)).catch(() => undefined);
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${verifierDb}" WITH (FORCE)`)).catch(() => undefined);
  }
};

const main = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'continuity-bench-verify-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const path = join(dir, 'copy.bin');
    const bytes = options.sizeMib * 1024 * 1024;
    progress(`${BENCH}: writing a ${options.sizeMib} MiB copy to ${path}`);
    await makeFile(path, bytes);
    const expected = await sha256File(path); // also warms the page cache for both
    const readers = new CopyReaders([new FileCopyReader([dir])]);
    const copy = { location: 'bench', uri: pathToFileURL(path).href, sha256: expected, sizeBytes: bytes };
    const project = async () => {
      const started = performance.now();
      const outcome = await checkCopy(readers, copy);
      const ms = performance.now() - started;
      if (outcome.status !== 'good') throw new Error(`the verifier judged the copy ${outcome.status}: ${outcome.check.error}`);
      return ms;
    };
    const baseline = async () => {
      const run = await openssl(path);
      if (run.sha256 !== expected) throw new Error(`openssl says ${run.sha256}, expected ${expected}`);
      return run.ms;
    };
    const mbps = (ms: number) => bytes / 1e6 / (ms / 1000);
    await project(); // one untimed run each: JIT, first-touch of buffers
    await baseline();
    const projectMs: number[] = [];
    const baselineMs: number[] = [];
    for (let r = 1; r <= options.rounds; r++) {
      const order = r % 2 ? [baseline, project] : [project, baseline];
      for (const step of order) {
        const ms = await step();
        (step === project ? projectMs : baselineMs).push(ms);
        progress(`${BENCH}: round ${r}: ${step === project ? 'verifier checkCopy' : 'openssl dgst -sha256'} ${round(ms)} ms (${round(mbps(ms), 1)} MB/s)`);
      }
    }
    rmSync(path, { force: true });
    const restore = options.restore ? await restoreComparison(dir) : {};
    const value = round(mbps(median(projectMs)), 1);
    const baselineRate = round(mbps(median(baselineMs)), 1);
    cleanup();
    printResult({ bench: BENCH, value, baseline: baselineRate, ratio: round(value / baselineRate, 3), unit: 'MB/s', size_mib: options.sizeMib, rounds: options.rounds, ...restore });
  } catch (error) {
    cleanup();
    throw error;
  }
};

main().catch((error) => {
  progress(`${BENCH}: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
