import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, chmod, lstat, mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from 'pg';
import { hasSystemZstd, type BaseBackupInfo } from '@continuity/artifacts';
import { clientConfigFor } from '../backup-run/sources/pg-tables.js';
import { RestoreError } from './restore.errors.js';

/**
 * Restoring a base backup into a PostgreSQL data directory: the `.tar.zst` is decompressed and
 * extracted by the system's `bsdtar` (or `tar`) into a staging folder beside the target as it
 * streams in (owned by the `postgres` OS user when we run as root, mode 0700 — PostgreSQL refuses
 * anything looser);
 * once the stored bytes' SHA-256 matched, it is checked with `pg_verifybackup` (every file against
 * `backup_manifest`'s checksums, and the WAL from start to end position parsed) while its files
 * are flushed to disk, then renamed into place. With `start`, the server is started there with `pg_ctl` on the given port:
 * it replays the WAL the backup carries (crash recovery from `backup_label`'s checkpoint) and comes
 * up as a primary at the backup's consistent point. Archive recovery (a `restore_command` and a
 * recovery target) is the WAL archive's to add.
 */

const PG_USER = 'postgres';
const asRoot = () => process.getuid?.() === 0;

/** PostgreSQL's server programs: `PG_BIN`, else Debian's folder for the backup's major version. */
export const pgServerBin = (pgVersion: string | null) => process.env.PG_BIN ?? `/usr/lib/postgresql/${pgVersion ?? '15'}/bin`;

export const idOf = (flag: '-u' | '-g') => Number(spawnSync('id', [flag, PG_USER], { encoding: 'utf8' }).stdout.trim());

/**
 * What a server program's environment may hold: the locale, PATH and time zone, and the NATS
 * identity `continuity wal-fetch` (the restored server's `restore_command`) reads object-store
 * copies with. Nothing else of the restore's own — the catalogue's `DATABASE_URL`, the audit
 * token, API tokens, `PGPASSWORD` — reaches a server that outlives the restore, whose environment
 * its OS user and its superusers (the source cluster's roles) can read.
 */
export const serverEnvironment = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(env).filter(([name, value]) => value !== undefined && SERVER_ENV.test(name)));
const SERVER_ENV = /^(PATH|HOME|TMPDIR|TZ|LANG|LANGUAGE|LC_[A-Z]+|NATS_(URL|CREDS|NKEY_SEED_FILE|CA|USER|PASSWORD))$/;

/** Runs a server program, as the postgres OS user when we are root (the server refuses root), with {@link serverEnvironment}. */
export const runServerTool = (bin: string, program: string, args: string[], options: { asPostgres: boolean; timeoutMs: number }) =>
  new Promise<{ stdout: string }>((resolve, reject) => {
    const path = join(bin, program);
    const [command, argv] = options.asPostgres && asRoot() ? ['runuser', ['-u', PG_USER, '--', path, ...args]] : [path, args];
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: serverEnvironment(process.env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString()).slice(-8000)));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${path}: ${error.message} (set PG_BIN to PostgreSQL's bin folder)`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout });
      else reject(new Error(`${program} ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${(stderr || stdout).trim()}`));
    });
  });

/**
 * How a stored `.tar.zst` is extracted, best first:
 * - `bsdtar` (libarchive) with libzstd: decompression and extraction in one process. The
 *   decompressed gigabyte never crosses a pipe; on this kind of machine (2 vCPUs, paravirtual
 *   syscalls) moving a byte through a pipe costs about as much as writing it to a file, and
 *   bsdtar writes in larger blocks than GNU tar's 10 KiB: measured ≈1 CPU-s per GB of cluster
 *   against ≈3 for the pair below (decision 0041).
 * - GNU `tar --zstd`: tar runs the system's `zstd` in a process of its own, which pipes every
 *   decompressed byte to tar.
 * Without either, a base backup is not restored here (`RESTORE.TOOL_MISSING`, before any fetch).
 * Node pipes only the stored, compressed bytes, hashing them on the way.
 * Both read past a tar's end marker (`--ignore-zeros`): a server-compressed base backup is the
 * server's tar followed by a tar of its `backup_manifest` (decision 0044).
 */
export type Extraction = { program: 'bsdtar' | 'tar'; args: string[]; decodesZstd: boolean };
let extraction: Extraction | null = null;
export const extractionForSystem = (): Extraction => {
  if (extraction) return extraction;
  const bsdtar = spawnSync('bsdtar', ['--version'], { encoding: 'utf8' });
  // Without -P, bsdtar refuses `..` components and extraction through symlinks and strips leading `/`;
  // a base backup holds no owners, extended attributes, ACLs or file flags to set.
  if (bsdtar.status === 0 && /libzstd/.test(bsdtar.stdout)) {
    return (extraction = { program: 'bsdtar', args: ['--no-same-owner', '--no-xattrs', '--no-acls', '--no-fflags', '--ignore-zeros'], decodesZstd: true });
  }
  const zstd = hasSystemZstd();
  return (extraction = { program: 'tar', args: ['--no-same-owner', '--ignore-zeros', ...(zstd ? ['--zstd'] : [])], decodesZstd: zstd });
};

/**
 * Extracts a tar stream into `dir` with the system's `bsdtar` or `tar` (C, several times the pace
 * of a JavaScript extractor on a gigabyte), as the postgres OS user when we are root, so every
 * file is the server's. Members are never written outside `dir` (both refuse `..` and drop a
 * leading `/`); the caller extracts into a fresh staging folder and trusts it only once the stored
 * bytes' SHA-256 matched and pg_verifybackup passed.
 */
export const untar = (dir: string, input: Readable, asPostgres: boolean, how: Extraction) =>
  new Promise<void>((resolve, reject) => {
    const args = ['-x', '-f', '-', '-C', dir, ...how.args];
    const [command, argv] = asPostgres && asRoot() ? ['runuser', ['-u', PG_USER, '--', how.program, ...args]] : [how.program, args];
    const child = spawn(command, argv, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    const exited = new Promise<void>((done, failed) => {
      child.once('error', (error) => failed(new Error(`cannot run ${how.program}: ${error.message}`)));
      child.once('close', (code, signal) => (code === 0 ? done() : failed(new Error(`${how.program} ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${stderr.trim() || 'no message'}`))));
    });
    pipeline(input, child.stdin).then(
      () => exited.then(resolve, reject),
      (error: Error) => {
        if (child.exitCode === null) child.kill('SIGKILL');
        // tar's own complaint says more than the broken pipe it caused.
        exited.then(() => reject(error), reject);
      },
    );
  });

/** `sync -f`: writes the file system's dirty pages to disk (syncfs); a failure only loses the overlap. */
const flushFileSystem = (path: string) =>
  new Promise<void>((resolve) => {
    const child = spawn('sync', ['-f', path], { stdio: 'ignore' });
    child.once('error', () => resolve());
    child.once('close', () => resolve());
  });

export interface StartedServer {
  port: number;
  /** From `pg_ctl start` to the first answered query. */
  startMs: number;
  /** Where the server's WAL is after recovery (`pg_current_wal_lsn()`), and what recovery replayed up to if it says. */
  lsn: string;
  replayLsn: string | null;
  /** The server answered `select 1` with the resource's own credentials. */
  answered: boolean;
  logFile: string;
}

/** Where a data-directory restore spent its time, in milliseconds. */
export interface DataDirectoryPhases {
  /** Fetch, SHA-256, decompression and extraction into the staging folder, until the stored bytes' hash matched. */
  stageMs: number;
  /** `pg_verifybackup` (alongside the flush of the staged files to disk) and the rename into place. */
  verifyMs: number;
}

export interface DataDirectoryOutcome {
  /** `pg_verifybackup`'s verdict ("backup successfully verified"). */
  verified: string;
  phases: DataDirectoryPhases;
  basebackup: BaseBackupInfo | null;
  server: StartedServer | null;
}

/**
 * The connection to ask the started server with: the resource's own (same roles and passwords as
 * the cluster it was copied from), pointed at 127.0.0.1 and the new port.
 */
export const restoredConnection = (resourceConnection: string, port: number) => {
  const url = new URL(clientConfigFor(resourceConnection).connectionString!);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  url.searchParams.delete('host'); // a socket folder of the original server's
  return { connectionString: url.toString(), connectionTimeoutMillis: 5_000 };
};

export interface DataDirectoryTarget {
  overwrites: false;
  stage(input: Readable): Promise<void>;
  apply(basebackup: BaseBackupInfo | null): Promise<void>;
  discard(): Promise<void>;
  outcome(): DataDirectoryOutcome | null;
}

/** An empty or missing directory to restore a base backup into; `start` also starts it on `start.port`. */
export const dataDirectoryTarget = async (to: string, options: { start?: { port: number; connection: string } | null }): Promise<DataDirectoryTarget> => {
  if (!isAbsolute(to)) throw new RestoreError('RESTORE.WRONG_TARGET', `${to} must be an absolute path`, { status: 400 });
  const existing = await lstat(to).catch(() => null);
  if (existing && !existing.isDirectory()) throw new RestoreError('RESTORE.WRONG_TARGET', `${to} exists and is not a directory`, { status: 400 });
  if (existing && (await readdir(to)).length > 0) {
    throw new RestoreError('RESTORE.TARGET_NOT_EMPTY', `${to} is not empty: a base backup is restored into a new or empty data directory`, { status: 409 });
  }
  // Checked before anything is fetched: a server-compressed base backup is one zstd frame of the
  // whole cluster, which only a streaming decoder (bsdtar's libzstd or the zstd program) reads.
  const how = extractionForSystem();
  if (!how.decodesZstd) {
    throw new RestoreError('RESTORE.TOOL_MISSING', 'restoring a base backup needs bsdtar with zstd (Debian: libarchive-tools) or the zstd program: neither is installed here', { status: 500 });
  }
  await mkdir(dirname(to), { recursive: true });
  const owner = asRoot() ? { uid: idOf('-u'), gid: idOf('-g') } : null;
  let staging = '';
  let stageStarted = 0;
  let result: DataDirectoryOutcome | null = null;
  return {
    overwrites: false,
    stage: async (input) => {
      stageStarted = Date.now();
      staging = join(dirname(to), `.${basename(to)}.restore-${randomBytes(4).toString('hex')}`);
      await mkdir(staging, { mode: 0o700 });
      if (owner) spawnSync('chown', [`${owner.uid}:${owner.gid}`, staging]);
      await untar(staging, input, owner !== null, how);
    },
    apply: async (basebackup) => {
      const verifyStarted = Date.now();
      const stageMs = verifyStarted - stageStarted;
      const bin = pgServerBin(basebackup?.pgVersion ?? null);
      // Before anything runs in it: every file as the manifest says, and the WAL from start to end readable.
      // Only reads: as whoever we are (root reads the postgres user's files; the postgres user may not reach our folders).
      // The server's first start fsyncs every file (its crash recovery); flush them to disk while
      // pg_verifybackup reads them from the page cache, not after it.
      const [verification] = await Promise.all([
        runServerTool(bin, 'pg_verifybackup', [staging], { asPostgres: false, timeoutMs: 3_600_000 }),
        flushFileSystem(staging),
      ]);
      const verified = verification.stdout.trim();
      await chmod(staging, 0o700);
      if (existing) await rmdir(to);
      await rename(staging, to);
      staging = '';
      const phases = { stageMs, verifyMs: Date.now() - verifyStarted };
      let server: StartedServer | null = null;
      if (options.start) server = await startServer(bin, to, options.start.port, options.start.connection, basebackup?.pgVersion ?? null);
      result = { verified, phases, basebackup, server };
    },
    discard: async () => {
      if (staging) await rm(staging, { recursive: true, force: true, maxRetries: 5 });
    },
    outcome: () => result,
  };
};

/**
 * `pg_ctl start` of a restored data directory. Its first start is a crash recovery, which fsyncs
 * every file of the data directory one by one (a second or more for a gigabyte of files already on
 * disk). The restore flushed them before the rename: from PostgreSQL 14 on, this start syncs the
 * file system whole with syncfs instead (Linux; the same guarantee, since the file system is
 * flushed whole). Nothing is written to the configuration; `pg_ctl` keeps the option in
 * `postmaster.opts`, which only its `restart` reuses. When the version is not known, nothing is
 * assumed: PostgreSQL's default.
 */
export const firstStartArgs = (dataDir: string, logFile: string, pgVersion: string | null) => [
  '-D',
  dataDir,
  '-l',
  logFile,
  ...(pgVersion !== null && Number.parseInt(pgVersion, 10) >= 14 && process.platform === 'linux' ? ['-o', '-c recovery_init_sync_method=syncfs'] : []),
  '-w',
  '-t',
  '3600',
  'start',
];

/**
 * Starts the restored cluster on `port` (written to `postgresql.auto.conf`, so a later start by
 * hand uses it too and never the original server's port), waits until it accepts connections,
 * and asks it where its WAL is.
 */
const startServer = async (bin: string, dataDir: string, port: number, connection: string, pgVersion: string | null): Promise<StartedServer> => {
  await appendFile(join(dataDir, 'postgresql.auto.conf'), `\n# continuity restore: the restored server's own port\nport = ${port}\n`);
  const logFile = join(dataDir, 'continuity-restore-start.log');
  const started = Date.now();
  try {
    // -w: pg_ctl returns once the server accepts connections (recovery of the backup's WAL done).
    await runServerTool(bin, 'pg_ctl', firstStartArgs(dataDir, logFile, pgVersion), { asPostgres: true, timeoutMs: 3_700_000 });
  } catch (error) {
    throw new Error(`the restored data directory ${dataDir} did not start: ${(error as Error).message} (see ${logFile})`);
  }
  const client = new Client(restoredConnection(connection, port));
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ one: number; lsn: string; replay: string | null }>(
      'SELECT 1 AS one, pg_current_wal_lsn()::text AS lsn, pg_last_wal_replay_lsn()::text AS replay',
    );
    return { port, startMs: Date.now() - started, lsn: rows[0]!.lsn, replayLsn: rows[0]!.replay, answered: rows[0]!.one === 1, logFile };
  } catch (error) {
    throw new Error(`the restored server on port ${port} started but does not answer: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
};
