import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { Client, type ClientConfig } from 'pg';
import { redactSecrets } from '@continuity/runtime/standalone';
import type { PostgresResourceConfig } from '../../config/backup-config.schema.js';
import {
  CatalogTable,
  clientConfigFor,
  countSettingsSql,
  countSql,
  dumpedName,
  inDumpOrder,
  keptForFailure,
  lockSql,
  qualifiedName,
  tableDumpStarted,
  TABLES_SQL,
  tableCounts,
  tablesToCount,
} from './pg-tables.js';
import { readFrames, type TableRowCount } from '@continuity/artifacts';
import { fifo } from './fifo.js';
import { pgToolInvocation, untranslatedMessages } from './pg-tool.js';
import { SourceError, SourceRun } from './source.js';

const run = promisify(execFile);

/** `connection` with `database` as its database (URL or libpq key=value form). */
export const connectionFor = (resource: Pick<PostgresResourceConfig, 'connection' | 'database'>): string => {
  if (!resource.database) return resource.connection;
  if (/^postgres(ql)?:\/\//.test(resource.connection)) {
    const url = new URL(resource.connection);
    url.pathname = `/${encodeURIComponent(resource.database)}`;
    return url.toString();
  }
  return `${resource.connection} dbname='${resource.database.replace(/['\\]/g, '\\$&')}'`;
};

let pgDumpVersion: Promise<string> | null = null;
export const toolVersion = (tool: string) => run(tool, ['--version']).then(({ stdout }) => stdout.trim().replace(/^\S+ \(PostgreSQL\) /, ''));

/** Size of the database, for the progress bar (the dump is usually smaller: compressed). */
const databaseSize = async (connection: string): Promise<number | null> => {
  if (!/^postgres(ql)?:\/\//.test(connection)) return null;
  const client = new Client({ connectionString: connection, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ size: string }>('select pg_database_size(current_database())::text as size');
    return Number(rows[0]!.size);
  } catch {
    return null;
  } finally {
    await client.end().catch(() => undefined);
  }
};

/** A session holding the transaction whose snapshot pg_dump dumps and the rows are counted in. */
interface SnapshotSession {
  client: Client;
  snapshot: string;
  sizeBytes: number | null;
  tables: CatalogTable[];
}

const connectTimeoutMs = () => Math.max(1, Number(process.env.PGCONNECT_TIMEOUT ?? '10') || 10) * 1000;

/**
 * Opens the snapshot session: a `REPEATABLE READ, READ ONLY` transaction that exports its snapshot
 * (for `pg_dump --snapshot`), lists the tables pg_dump will lock and dump as they are in that
 * snapshot, and takes ACCESS SHARE locks on all of them in one statement — what pg_dump itself
 * does first — so that no TRUNCATE or table rewrite (not MVCC-safe: older snapshots would see the
 * table empty) can land between a table being counted and being dumped. Session settings mirror
 * pg_dump's: no statement, lock or idle-in-transaction timeout (the transaction idles while
 * pg_dump runs), no row security (a table it would filter fails the count as it fails pg_dump,
 * instead of a count of the visible rows only); and the counts are cheap in CPU (`countSettingsSql`).
 *
 * Returns `{ unavailable }` only when node-postgres cannot open a session where pg_dump (libpq)
 * might (a connection string or authentication method it does not support): the backup then runs
 * as before, without recorded row counts. Any later error throws: the backup fails.
 */
const openSnapshotSession = async (connection: string): Promise<SnapshotSession | { unavailable: string }> => {
  let client: Client;
  try {
    client = new Client({ ...clientConfigFor(connection), connectionTimeoutMillis: connectTimeoutMs(), fallback_application_name: 'continuity-backup' } as ClientConfig);
  } catch (error) {
    return { unavailable: `cannot count rows: ${redactSecrets((error as Error).message)}` };
  }
  // An idle session losing its connection emits 'error': the next query (or COMMIT) reports it.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    return { unavailable: `cannot count rows: cannot connect: ${redactSecrets((error as Error).message)}` };
  }
  try {
    const version = Number((await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]!.v);
    await client.query(
      `SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0; SET row_security = off${version >= 170000 ? '; SET transaction_timeout = 0' : ''}`,
    );
    // A count running when the backup is cancelled stops as soon as the server sees us gone (Linux).
    if (version >= 140000) await client.query(`SET client_connection_check_interval = '2s'`).catch(() => undefined);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const { rows } = await client.query<{ snapshot: string; size: string | null }>(
      'SELECT pg_catalog.pg_export_snapshot() AS snapshot, pg_catalog.pg_database_size(pg_catalog.current_database())::text AS size',
    );
    const tables = (await client.query<CatalogTable>(TABLES_SQL)).rows;
    const lock = lockSql(tables);
    if (lock) await client.query(lock);
    // The counts run beside pg_dump, on the same cores as its COPY: as little CPU as an exact count
    // takes. Set once the catalogue is read and the tables locked: those queries keep their index paths.
    await client.query(countSettingsSql(version));
    return { client, snapshot: rows[0]!.snapshot, sizeBytes: rows[0]!.size === null ? null : Number(rows[0]!.size), tables };
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new SourceError(`cannot take the snapshot to dump and count rows in: ${(error as Error).message}`);
  }
};

/**
 * Counts every table's rows (`count`: in the session's snapshot), one table after another, each as
 * pg_dump starts copying it (`started` yields pg_dump's names for them, in its order, and ends with
 * its output): the count's sequential scan then reads the table beside the COPY's instead of on
 * its own. Until pg_dump is heard starting its first table (it reads the catalogue meanwhile, and
 * leaves cores idle) the counts go ahead in the order it will copy them: the COPY of the table
 * being counted then joins the count's scan (if it is never heard, they all go ahead). A table
 * pg_dump was heard starting under another name (one holding a newline, or bytes that are not
 * UTF-8) is counted once it exited cleanly (`exited`): same snapshot, same count, only later.
 * Rejects with the first failed count, or pg_dump's failure when tables were left to count.
 */
export const countAsDumped = async (
  tables: readonly CatalogTable[],
  started: Announcements,
  exited: Promise<void>,
  count: (table: CatalogTable) => Promise<string>,
): Promise<TableRowCount[]> => {
  const waiting = new Map<string, CatalogTable[]>();
  for (const table of tablesToCount(tables)) waiting.set(dumpedName(table), [...(waiting.get(dumpedName(table)) ?? []), table]);
  const ahead = inDumpOrder(tablesToCount(tables)).map(dumpedName);
  const counts = new Map<string, string>();
  const countNamed = async (name: string) => {
    const some = waiting.get(name) ?? [];
    waiting.delete(name);
    for (const table of some) counts.set(qualifiedName(table), await count(table));
  };
  while (waiting.size) {
    const next = started.take() ?? (started.heardAny ? undefined : ahead.shift());
    if (next !== undefined) await countNamed(next);
    else if (started.ended) break;
    else await started.next();
  }
  if (waiting.size) await exited;
  for (const name of [...waiting.keys()]) await countNamed(name);
  return tableCounts(tables, counts);
};

/** The tables pg_dump was heard starting, by its names for them, taken in order. */
export interface Announcements {
  /** The next one heard and not taken yet. */
  take(): string | undefined;
  /** Whether pg_dump was heard starting any table yet. */
  readonly heardAny: boolean;
  /** Whether pg_dump's output ended: nothing more will be heard. */
  readonly ended: boolean;
  /** Resolves when one more is heard, or the output ended. */
  next(): Promise<void>;
}

export const announcements = (): Announcements & { push(name: string): void; end(): void } => {
  const heard: string[] = [];
  let heardAny = false;
  let ended = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  return {
    push: (name) => void (heard.push(name), (heardAny = true), notify()),
    end: () => void ((ended = true), notify()),
    take: () => heard.shift(),
    get heardAny() {
      return heardAny;
    },
    get ended() {
      return ended;
    },
    next: () => new Promise<void>((resolve) => (wake = resolve)),
  };
};

/**
 * How long pg_dump may wait for its table locks when the snapshot session holds them already. Any
 * such wait is a cycle: pg_dump queues behind someone's ACCESS EXCLUSIVE request (ALTER, TRUNCATE,
 * DROP, …), which waits for the session, which waits for pg_dump. The session cannot yield (its
 * snapshot is the dump's), so after this long pg_dump gives up and the backup fails, naming why,
 * as `pg_dump -j` does in the same position; the next run retries. Long enough for a migration
 * with its own `lock_timeout` to give up first.
 */
export const LOCK_WAIT_TIMEOUT_MS = 30_000;

export interface PostgresSourceOptions {
  /** pg_dump's `--lock-wait-timeout` (default LOCK_WAIT_TIMEOUT_MS). */
  lockWaitTimeoutMs?: number;
  /** Tests: runs after the snapshot session holds its locks, before pg_dump starts. */
  beforeDump?: () => Promise<void>;
  /** Tests: runs before each table is counted. */
  beforeCount?: (table: CatalogTable) => Promise<void>;
}

/** pg_dump's last words, with what they mean when it gave up waiting for a table lock. */
const pgDumpFailure = (stderr: string) => {
  const message = stderr.trim() || 'no message';
  return /statement timeout/.test(message) && /LOCK TABLE/.test(message)
    ? `${message} (pg_dump waited too long for a table lock: another session asked for an exclusive lock on the table while this backup held its share lock, so the backup gave way; the next run retries)`
    : message;
};

/**
 * `pg_dump --format=custom` of one database, read from its stdout. The custom format is
 * compressed and is what `pg_restore` restores selectively and in parallel (from a file).
 *
 * The dump and the manifest's row counts are the same moment: a session (see
 * `openSnapshotSession`) exports its transaction's snapshot, pg_dump dumps that snapshot
 * (`--snapshot`), and the session counts every table's rows in it (`count(*)`, a sequential scan
 * of each table) as pg_dump starts copying that table (`countAsDumped`) — so counting adds little
 * to the source's reads and little wall time. The session's transaction stays open until pg_dump
 * has exited (an exported snapshot is importable only while it is), then commits. A failed count
 * fails the backup (pg_dump is stopped).
 */
export const startPostgresSource = async (resource: PostgresResourceConfig, options: PostgresSourceOptions = {}): Promise<SourceRun> => {
  const connection = connectionFor(resource);
  pgDumpVersion ??= toolVersion('pg_dump').catch(() => 'unknown');
  const [version, opened, pipe] = await Promise.allSettled([pgDumpVersion, openSnapshotSession(connection), fifo('pg_dump')]).then(async (settled) => {
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (!failed) return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as [string, Awaited<ReturnType<typeof openSnapshotSession>>, { readFd: number; writeFd: number }];
    const [, o, p] = settled;
    if (o.status === 'fulfilled' && !('unavailable' in o.value)) await o.value.client.end().catch(() => undefined);
    if (p.status === 'fulfilled') [p.value.readFd, p.value.writeFd].forEach((fd) => closeSync(fd));
    throw failed.reason;
  });
  const session = 'unavailable' in opened ? null : opened;
  const expectedBytes = session ? session.sizeBytes : await databaseSize(connection);
  /** The read end, until the stream's socket owns it (a run stopped before the first read closes it here). */
  let readFd: number | null = pipe.readFd;
  const closeRead = () => {
    if (readFd !== null) closeSync(readFd);
    readFd = null;
  };
  try {
    await options.beforeDump?.();
  } catch (error) {
    await session?.client.end().catch(() => undefined);
    closeRead();
    closeSync(pipe.writeFd);
    throw error;
  }
  const snapshotArgs = session ? [`--snapshot=${session.snapshot}`, `--lock-wait-timeout=${Math.max(1, Math.round(options.lockWaitTimeoutMs ?? LOCK_WAIT_TIMEOUT_MS))}`] : [];
  // --verbose: pg_dump says which table it starts copying (its other progress lines are dropped),
  // in untranslated messages: the ones recognised here.
  const pgDump = pgToolInvocation(
    connection,
    ['--format=custom', '--no-password', '--verbose', ...snapshotArgs],
    untranslatedMessages({ ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '10' }),
  );
  let child: ChildProcess;
  try {
    child = spawn('pg_dump', pgDump.args, { stdio: ['ignore', pipe.writeFd, 'pipe'], env: pgDump.env });
  } catch (error) {
    await session?.client.end().catch(() => undefined);
    closeRead();
    throw error;
  } finally {
    closeSync(pipe.writeFd); // pg_dump holds the only write end: its exit ends the stream
  }
  // pg_dump's output arrives in frames of a MiB, read straight into them from the FIFO (it writes
  // 4 KiB at a time: a pipe hands Node a new buffer, and the one pass a chunk, per write).
  const frames = async function* () {
    const fd = readFd!;
    readFd = null;
    yield* readFrames(fd);
  };
  const stream = Readable.from(frames(), { objectMode: false });
  /** The tables pg_dump starts copying, by its names for them; ends when its stderr does (it exited). */
  const started = announcements();
  let stderr = '';
  let partial = '';
  let kept = true;
  const readLine = (line: string) => {
    kept = keptForFailure(line, kept);
    if (kept) stderr = (stderr + line + '\n').slice(-4000);
    const table = tableDumpStarted(line);
    if (table !== null) started.push(table);
  };
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    lines.forEach(readLine);
  });
  child.stderr!.once('end', () => {
    if (partial) readLine(partial);
    partial = '';
  });
  child.stderr!.once('close', () => started.end());
  /** The first failure (pg_dump's, the count's, or a cancel): the others follow from it. */
  let failure: Error | null = null;
  const running = () => child.exitCode === null && child.signalCode === null;
  const fail = (error: Error) => {
    failure ??= error;
    if (running()) child.kill('SIGTERM');
    closeRead(); // a run stopped before its first read; once reading, pg_dump's exit ends the stream
    void session?.client.end().catch(() => undefined);
  };
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new SourceError(`cannot run pg_dump: ${error.message} (is PostgreSQL's client on PATH?)`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new SourceError(`pg_dump ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${pgDumpFailure(stderr)}`));
    });
  });
  exited.catch(fail);
  let tables: TableRowCount[] | null = null;
  const counted = session
    ? countAsDumped(session.tables, started, exited, async (table) => {
        await options.beforeCount?.(table);
        return (await session.client.query<{ n: string }>(countSql(table))).rows[0]!.n;
      }).then(
        (result) => void (tables = result),
        (error: Error) => fail(failure ? error : new SourceError(`counting rows: ${error.message}`)),
      )
    : Promise.resolve();
  let finished: Promise<void> | null = null;
  const done = () =>
    (finished ??= (async () => {
      await Promise.allSettled([exited, counted]);
      if (failure) throw failure;
      // pg_dump has exited: the snapshot may go. A failing COMMIT of a read-only transaction whose
      // counts are in hand changes nothing.
      await session?.client.query('COMMIT').catch(() => undefined);
      await session?.client.end().catch(() => undefined);
    })());
  return {
    kind: 'postgres',
    method: 'pg_dump-custom',
    extension: 'dump',
    stream,
    expectedBytes,
    tools: { pg_dump: version },
    done,
    index: () => ({ files: null, skipped: [], tables, tablesNotRecorded: 'unavailable' in opened ? opened.unavailable : null }),
    cancel: () => fail(new SourceError('cancelled')),
  };
};
