import { spawn, type StdioOptions } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Logger, type LoggerService } from '@nestjs/common';
import { Client } from 'pg';
import type { TableRowCount } from '@continuity/artifacts';
import { assertRestoreMaintenanceWorkMem, libpqConnection, redactSecrets, restoreSessionEnv } from '@continuity/runtime';
import type { LocalCopyFile } from '../copies/copy-reader.js';
import type { SqlAssertion } from '../config/verifier-config.js';
import { DumpContents, parseToc } from './pg-toc.js';
import { check, openPlaintext, outcomeOf, PlaintextDigest, PlaintextStream, plaintextCheck, RestoreCheck, RestoreTestContext, RestoreTester, RestoreTestOutcome, skipped } from './restore-test.js';
import { Scratch, ScratchDatabase } from './scratch.js';

export interface PostgresRestoreTestOptions {
  assertionTimeoutMs: number;
  /** SQL assertions for a resource (from the configuration). */
  assertionsFor: (resource: string) => SqlAssertion[];
  /**
   * `pg_restore --jobs` when the copy can be read as a local file (a `file://` copy, not
   * encrypted): the data and indexes of several tables restored at once. Default 1.
   */
  jobs?: number;
  /**
   * `maintenance_work_mem` of pg_restore's sessions (`<n>kB|MB|GB`): the index builds after the data
   * sort in memory up to it. Null or absent: the server's own.
   */
  maintenanceWorkMem?: string | null;
  /** Where what the verdict does not say is logged (default: the service's log, context RestoreTest). */
  logger?: Pick<LoggerService, 'warn'>;
}

/** A copy pg_restore can seek in; `plaintext` when it was staged here (decrypted on the way, its plaintext hashed when that is checked). */
interface SeekableCopy {
  file: LocalCopyFile;
  plaintext: PlaintextDigest | null;
  release(): Promise<void>;
}

interface ToolRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Why the input could not be fed to the tool (unreadable copy, decryption error), if so. */
  inputError: Error | null;
}

const LISTED = 5;
const list = (items: string[]) => `${items.slice(0, LISTED).join('; ')}${items.length > LISTED ? `; … ${items.length - LISTED} more` : ''}`;
const qualified = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;
const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Longest error line quoted: the server's message, not a page of the archive's data after it. */
const MAX_ERROR_LINE = 300;

/**
 * The error lines of pg_restore's output (it prints one per failed TOC entry), nothing else: never
 * its `Command was:`, `LINE n:` or `DETAIL:` lines, which quote the archive's SQL and data.
 */
const errorsOf = (stderr: string): string => {
  const errors = stderr
    .split('\n')
    .filter((l) => /^pg_restore: error:/.test(l))
    .map((l) => l.replace(/^pg_restore: error: /, ''))
    .map((l) => redactSecrets(l.length > MAX_ERROR_LINE ? `${l.slice(0, MAX_ERROR_LINE)}…` : l));
  return errors.length ? list([...new Set(errors)]) : 'no error message';
};

/**
 * PostgreSQL restore test: `pg_restore --jobs` of the dump (the hash-checked copy itself when it is a
 * local, unencrypted file; else its plaintext staged into a scratch folder, decrypted on the way;
 * with one job, streamed to pg_restore) into a scratch database created for the test and always dropped
 * after, all as the scratch restore role (never a superuser: SQL inside the archive runs with its
 * rights); then every table the backup holds must be there, with the row counts recorded (when the
 * manifest records them), large objects as listed, and every configured SQL assertion true. The
 * time from opening the copy to pg_restore's exit is the measured restore RTO.
 */
export class PostgresRestoreTest implements RestoreTester {
  /** Throws `InvalidRestoreSettingError` for a `maintenanceWorkMem` that is not a bounded size (before any scratch database is made). */
  constructor(
    private readonly scratch: Scratch,
    private readonly options: PostgresRestoreTestOptions,
  ) {
    assertRestoreMaintenanceWorkMem(options.maintenanceWorkMem ?? null);
    this.logger = options.logger ?? new Logger('RestoreTest');
  }

  private readonly logger: Pick<LoggerService, 'warn'>;

  /** Runs a pg tool with the copy's plaintext on stdin. Kills it on abort. */
  private async runTool(context: RestoreTestContext, args: string[], opts: { stopInputOnExit?: boolean; env?: Record<string, string> } = {}): Promise<ToolRun & { plaintext: PlaintextDigest }> {
    const input = await openPlaintext(context);
    try {
      const child = this.spawnTool(args, ['pipe', 'pipe', 'pipe'], opts.env);
      let inputError: Error | null = null;
      child.process.stdin!.on('error', () => undefined); // EPIPE when the tool stops reading early (--list)
      const feeding = pipeline(input.stream, child.process.stdin!).catch((error: Error) => {
        // The tool closing its stdin early is not an input problem.
        if ((error as NodeJS.ErrnoException).code !== 'EPIPE' && (error as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') inputError = error;
      });
      const { code, signal, stdout, stderr } = await child.finished(context.signal);
      if (opts.stopInputOnExit) input.destroy();
      await feeding;
      if (context.signal.aborted) throw context.signal.reason instanceof Error ? context.signal.reason : new Error('aborted');
      return { code, signal, stdout, stderr, inputError, plaintext: input.digest() };
    } finally {
      input.destroy();
    }
  }

  /**
   * Runs pg_restore on the copy opened as a local file: the descriptor already checked by the
   * reader is handed to the tool as its fd 3 (`/dev/fd/3`), so what it reads is that file whatever
   * its path is now, and `--jobs` workers (which reopen the archive to seek in it) read it too.
   */
  private async runToolOnFile(context: RestoreTestContext, file: LocalCopyFile, args: string[], env: Record<string, string>): Promise<ToolRun> {
    const child = this.spawnTool([...args, '/dev/fd/3'], ['ignore', 'pipe', 'pipe', file.handle.fd], env);
    const { code, signal, stdout, stderr } = await child.finished(context.signal);
    if (context.signal.aborted) throw context.signal.reason instanceof Error ? context.signal.reason : new Error('aborted');
    return { code, signal, stdout, stderr, inputError: null };
  }

  private spawnTool(args: string[], stdio: StdioOptions, env: Record<string, string> = {}) {
    const child = spawn('pg_restore', args, { stdio, env: { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '10', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', (error) => reject(new Error(`cannot run pg_restore: ${error.message} (is PostgreSQL's client on PATH?)`)));
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    return {
      process: child,
      /** Waits for the tool to exit; kills it on abort. */
      finished: async (abort: AbortSignal) => {
        const onAbort = () => child.kill('SIGKILL');
        abort.addEventListener('abort', onAbort, { once: true });
        try {
          return { ...(await exited), stdout, stderr };
        } finally {
          abort.removeEventListener('abort', onAbort);
        }
      },
    };
  }

  /**
   * The copy as a file pg_restore may seek in, for `--jobs`: the copy itself when it is a local,
   * unencrypted file of the recorded size; otherwise its plaintext staged into a scratch folder
   * (decrypted on the way). Staging writes the compressed dump once, which costs far less
   * than the restore's server work it lets run in parallel (see bench/verify.ts `--restore`). Null
   * with one job, or when staging fails (no room): the copy is then streamed to one pg_restore.
   */
  private async seekableCopy(context: RestoreTestContext): Promise<SeekableCopy | null> {
    if ((this.options.jobs ?? 1) <= 1) return null;
    if (!context.encryption && context.reader.openFile) {
      const file = await context.reader.openFile(context.copy.uri).catch(() => null);
      if (file && file.sizeBytes === context.copy.sizeBytes) return { file, plaintext: null, release: () => file.handle.close() };
      await file?.handle.close().catch(() => undefined);
    }
    return this.stage(context).catch(() => null);
  }

  private async stage(context: RestoreTestContext): Promise<SeekableCopy> {
    const dir = await this.scratch.directory(context.backupId);
    let input: PlaintextStream | null = null;
    try {
      input = await openPlaintext(context);
      const path = join(dir.path, 'copy.dump');
      await pipeline(input.stream, createWriteStream(path, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20 }));
      const handle = await open(path, 'r');
      const { size } = await handle.stat();
      return {
        file: { handle, sizeBytes: size },
        plaintext: input.digest(),
        release: async () => {
          await handle.close().catch(() => undefined);
          await dir.remove();
        },
      };
    } catch (error) {
      input?.destroy();
      await dir.remove().catch(() => undefined);
      throw error;
    }
  }

  async run(context: RestoreTestContext): Promise<RestoreTestOutcome> {
    if (context.encryption && !context.identities.length) {
      return skipped(
        `encrypted (age) to ${context.encryption.recipients.join(', ')} and no configured key holds a matching identity`,
        `the dump is encrypted (age) to ${context.encryption.recipients.join(', ')} and no configured key holds a matching identity (add its key file under keys in VERIFIER_CONFIG)`,
      );
    }
    const checks: RestoreCheck[] = [];
    // 1. The table of contents (what the dump says it holds: a short read of the copy's beginning)
    // and 2. a scratch database, at once (neither needs the other); the database is dropped again
    // whatever happens, also when the archive turns out unreadable.
    const creating: Promise<{ db: ScratchDatabase; error: null } | { db: null; error: Error }> = this.scratch.database(context.backupId).then(
      (db) => ({ db, error: null }),
      (error: Error) => ({ db: null, error }),
    );
    const dropCreated = () => creating.then(({ db }) => db?.drop());
    const listing = await this.runTool(context, ['--list'], { stopInputOnExit: true }).catch(async (error: Error) => {
      if (context.signal.aborted) {
        await dropCreated();
        throw error;
      }
      return { code: null, signal: null, stdout: '', stderr: '', inputError: error, plaintext: { sha256: null, sizeBytes: 0 } };
    });
    if (listing.code !== 0) {
      const made = await creating;
      if (made.db) await made.db.drop();
      // The verdict names the archive; why no scratch database could be made either (a refused
      // restore role, an unreachable scratch server) would otherwise be said nowhere.
      else this.logger.warn(`restore test of ${context.backupId}: the scratch database could not be made either: ${made.error.name}: ${made.error.message}`);
      checks.push(check('archive readable (pg_restore --list)', false, listing.inputError ? `cannot read the copy: ${listing.inputError.message}` : errorsOf(listing.stderr)));
      return outcomeOf(checks, 0);
    }
    const contents = parseToc(listing.stdout);
    const created = await creating;
    if (!created.db) return skipped(created.error.message, created.error.message);
    const db = created.db;
    try {
      const started = performance.now();
      // As the restore role (never a superuser); its password (if any) through the environment, not argv (visible in ps).
      const target = libpqConnection(db.url);
      const args = ['--no-owner', '--no-privileges', `--dbname=${target.dbname}`];
      // A scratch database is dropped after its test: its commits need not wait for the disk.
      const env = { ...target.env, ...restoreSessionEnv({ newDatabase: true, maintenanceWorkMem: this.options.maintenanceWorkMem ?? null }) };
      const seekable = await this.seekableCopy(context);
      const restore = await (seekable
        ? this.runToolOnFile(context, seekable.file, [...args, `--jobs=${this.options.jobs}`], env)
            .then((run) => ({ ...run, plaintext: seekable.plaintext }))
            .finally(() => seekable.release().catch(() => undefined))
        : this.runTool(context, args, { env })
      ).catch((error: Error) => {
        if (context.signal.aborted) throw error;
        return { code: null, signal: null, stdout: '', stderr: '', inputError: error, plaintext: null };
      });
      const durationMs = performance.now() - started;
      const restored = restore.code === 0 && !restore.inputError;
      checks.push(
        check(
          'pg_restore',
          restored,
          restore.inputError
            ? `reading the copy failed: ${restore.inputError.message}`
            : restored
              ? `${contents.tables.length} tables restored in ${Math.round(durationMs)} ms from ${context.copy.location}${seekable ? ` (${this.options.jobs} jobs${seekable.plaintext ? ', staged' : ''})` : ''}`
              : `exited with ${restore.signal ?? restore.code}: ${errorsOf(restore.stderr)}`,
        ),
      );
      // A copy read by pg_restore itself was not decrypted here: null (and it needs no plaintext check).
      const plain = restored && restore.plaintext ? plaintextCheck(context, restore.plaintext) : null;
      if (plain) checks.push(plain);
      if (restore.code === 0) checks.push(...(await this.checkDatabase(db.url, context, contents)));
      return outcomeOf(checks, durationMs);
    } finally {
      await db.drop();
    }
  }

  /** Tables, row counts, large objects and assertions, in the restored scratch database. */
  private async checkDatabase(url: string, context: RestoreTestContext, contents: DumpContents): Promise<RestoreCheck[]> {
    const checks: RestoreCheck[] = [];
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    await client.connect();
    const onAbort = () => void client.end().catch(() => undefined);
    context.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const { rows } = await client.query<{ schema: string; name: string; relkind: string }>(
        `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`,
      );
      const relkinds = new Map(rows.map((r) => [qualified(r), r.relkind]));
      const present = new Set(relkinds.keys());
      const recorded: TableRowCount[] | null = context.manifest?.tables ?? null;
      const expected = recorded ?? contents.tables;
      const missing = expected.filter((t) => !present.has(qualified(t))).map(qualified);
      checks.push(
        check(
          'tables present',
          missing.length === 0,
          missing.length
            ? `missing: ${list(missing)}`
            : `${expected.length} tables ${recorded ? 'recorded in the manifest' : "listed in the dump's table of contents"}${recorded ? '' : '; row counts not checked: the manifest records none'}`,
        ),
      );
      if (recorded) {
        const wrong: string[] = [];
        for (const table of recorded.filter((t) => t.rows !== null && present.has(qualified(t)))) {
          // A table's own rows, as pg_dump dumps them (not its inheritance children's, dumped as
          // tables of their own); a partitioned table's are all its partitions'.
          const only = relkinds.get(qualified(table)) === 'p' ? '' : 'ONLY ';
          const { rows: counted } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${only}${quoteIdent(table.schema)}.${quoteIdent(table.name)}`);
          const n = Number(counted[0]!.n);
          if (n !== table.rows) wrong.push(`${qualified(table)}: ${n} rows, recorded ${table.rows}`);
        }
        checks.push(check('row counts as recorded', wrong.length === 0, wrong.length ? list(wrong) : `${recorded.filter((t) => t.rows !== null).length} tables`));
      }
      if (contents.largeObjects !== null && contents.largeObjects > 0) {
        const { rows: lo } = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM pg_largeobject_metadata');
        const n = Number(lo[0]!.n);
        checks.push(check('large objects present', n === contents.largeObjects, `${n} restored, ${contents.largeObjects} in the dump`));
      }
      for (const assertion of this.options.assertionsFor(context.resource)) checks.push(await this.assert(client, assertion));
    } finally {
      context.signal.removeEventListener('abort', onAbort);
      await client.end().catch(() => undefined);
    }
    return checks;
  }

  /** One configured assertion: read-only, time-limited; passes only when it returns one row, one column, `true`. */
  private async assert(client: Client, assertion: SqlAssertion): Promise<RestoreCheck> {
    const name = `assertion "${assertion.name}"`;
    try {
      await client.query('BEGIN READ ONLY');
      await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(this.options.assertionTimeoutMs))}`);
      const result = await client.query({ text: assertion.sql, rowMode: 'array' });
      await client.query('ROLLBACK');
      const value = result.rows.length === 1 && result.fields.length === 1 ? (result.rows[0] as unknown[])[0] : undefined;
      if (value === true) return check(name, true, null);
      const got = result.rows.length !== 1 || result.fields.length !== 1 ? `${result.rows.length} rows of ${result.fields.length} columns` : JSON.stringify(value);
      return check(name, false, `returned ${got}, not true`);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      return check(name, false, `error: ${(error as Error).message}`);
    }
  }
}
