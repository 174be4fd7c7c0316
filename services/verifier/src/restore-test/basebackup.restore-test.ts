import { spawn, spawnSync } from 'node:child_process';
import { chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Client } from 'pg';
import { lsnValue, tarPastEndMarkers, zstdDecompressStream, type AgeIdentity } from '@continuity/artifacts';
import type { BaseBackupFacts, WalReplay } from '@continuity/contracts';
import { freePort, redactSecrets } from '@continuity/runtime';
import { cappedExtract, describeTarError } from './directory.restore-test.js';
import { check, openPlaintext, outcomeOf, plaintextCheck, RestoreCheck, RestoreTestContext, RestoreTester, RestoreTestOutcome, skipped } from './restore-test.js';
import type { Scratch } from './scratch.js';
import type { CopyReaders } from '../copies/copy-reader.js';
import { startWalFetchServer, type FetchableFile, type WalFetchServer } from './wal-fetch.js';
import { planReplay, type ReplayRestorePoint, type ReplayTarget } from './wal-replay.plan.js';

/** The verifier's record of archived WAL and restore points (the WAL store), as the replay reads it. */
export interface WalArchiveView {
  files(resource: string): Promise<FetchableFile[]>;
  restorePoints(resource: string, afterLsn: string, upToLsn: string): Promise<ReplayRestorePoint[]>;
}

/** What replaying archived WAL needs: the archive's record, the copy readers, the decryption keys. */
export interface WalReplayDeps {
  archive: WalArchiveView;
  readers: CopyReaders;
  keys: () => readonly AgeIdentity[];
}

/**
 * The uncompressed tar is not recorded, only the stored (compressed) size. A cluster's files
 * compress well (empty pages, a WAL segment mostly zeros), so the cap is generous, with a floor
 * for small clusters whose WAL segment alone is 16 MiB; it stops a zstd bomb, not a real backup.
 */
const EXPANSION_FACTOR = 100;
const EXPANSION_FLOOR = 1 << 30;

/** The server refuses to run as root: it runs as this OS user when we are root. */
const PG_USER = 'postgres';
const asRoot = () => process.getuid?.() === 0;

/**
 * The server's Unix socket lives in its data directory, named through `/proc/<pid>/cwd` (the
 * postmaster works in its data directory): a socket path is limited to 107 bytes, which a scratch
 * folder's path easily exceeds. Linux only, like the rest of the verifier's server handling.
 */
const SOCKET_DIR_FOR_SERVER = '/proc/self/cwd';

/** Server programs: `PG_BIN`, else Debian's folder for the backup's major version (as the backup service does). */
export const pgServerBin = (pgVersion: string | null) => process.env.PG_BIN ?? `/usr/lib/postgresql/${pgVersion ?? '15'}/bin`;

/** NaN when there is no such user. */
const idOf = (flag: '-u' | '-g') => parseInt(spawnSync('id', [flag, PG_USER], { encoding: 'utf8' }).stdout.trim(), 10);

/** A value in postgresql.conf syntax. */
const confString = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** A server program is not installed where it was looked for: the test cannot be done here (not a fault of the backup). */
class ToolMissingError extends Error {
  override readonly name = 'ToolMissingError';
}

/** Runs a server program (as the postgres OS user when we are root and it must), killed on abort; rejects with its last output lines. */
const runServerTool = (bin: string, program: string, args: string[], options: { asPostgres: boolean; signal?: AbortSignal; timeoutMs: number }) =>
  new Promise<string>((resolve, reject) => {
    const path = join(bin, program);
    const [command, argv] = options.asPostgres && asRoot() ? ['runuser', ['-u', PG_USER, '--', path, ...args]] : [path, args];
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const kill = () => child.kill('SIGKILL');
    const timer = setTimeout(kill, options.timeoutMs);
    options.signal?.addEventListener('abort', kill, { once: true });
    const done = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', kill);
    };
    child.once('error', (error) => {
      done();
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      reject(new (missing ? ToolMissingError : Error)(`cannot run ${program} from ${bin}: ${error.message} (set PG_BIN to PostgreSQL's bin folder)`));
    });
    child.once('close', (code, signal) => {
      done();
      if (code === 0) resolve(output.trim());
      else reject(new Error(`${program} ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${redactSecrets(output.trim().split('\n').slice(-5).join(' | '))}`));
    });
  });

/**
 * Base-backup restore test: the `.tar.zst` (streamed from a hash-checked copy, decrypted on the way
 * when encrypted) is decompressed and extracted into a scratch folder, `pg_verifybackup` checks every
 * file against the backup's `backup_manifest` and parses its WAL, then a scratch server is started
 * there with `pg_ctl`: crash recovery replays the WAL the backup carries and the server must come
 * up as a primary, at or past the backup's end position, with the event's system identifier, and
 * answer queries. The time from opening the copy to accepting connections is the measured restore
 * RTO. The server is stopped and the folder removed after, always.
 *
 * The scratch server is shut off from everyone else and runs nothing the archive asks for: its
 * configuration is ours alone (see `configure`), it listens on a free loopback port but admits
 * only its own Unix socket, and the archive may hold no links (the server runs in what it holds).
 */
export class BaseBackupRestoreTest implements RestoreTester {
  constructor(
    private readonly scratch: Scratch,
    private readonly options: { pgBin?: (pgVersion: string | null) => string; wal?: WalReplayDeps } = {},
  ) {}

  async run(context: RestoreTestContext): Promise<RestoreTestOutcome> {
    if (context.encryption && !context.identities.length) {
      return skipped(
        `encrypted (age) to ${context.encryption.recipients.join(', ')} and no configured key holds a matching identity`,
        `the base backup is encrypted (age) to ${context.encryption.recipients.join(', ')} and no configured key holds a matching identity (add its key file under keys in VERIFIER_CONFIG)`,
      );
    }
    const facts = context.basebackup;
    if (!facts) return skipped('no WAL range or system identifier recorded', 'the base backup records no WAL range or system identifier (no basebackup in the event or manifest)');
    const owner = asRoot() ? { uid: idOf('-u'), gid: idOf('-g') } : null;
    if (owner && !(Number.isInteger(owner.uid) && Number.isInteger(owner.gid))) {
      const why = `the verifier runs as root and there is no ${PG_USER} OS user to run the scratch server as (PostgreSQL refuses root)`;
      return skipped(why, why);
    }
    let dir;
    try {
      dir = await this.scratch.directory(context.backupId);
    } catch (error) {
      return skipped((error as Error).message, (error as Error).message);
    }
    const bin = (this.options.pgBin ?? pgServerBin)(facts.pgVersion);
    const dataDir = join(dir.path, 'pgdata');
    let started = false;
    let fetcher: WalFetchServer | null = null;
    try {
      if (owner) await chown(dir.path, owner.uid, owner.gid);
      await mkdir(dataDir, { mode: 0o700 });
      if (owner) await chown(dataDir, owner.uid, owner.gid);
      const checks: RestoreCheck[] = [];
      const t0 = performance.now();
      const extracted = await this.extract(context, dataDir, owner, checks);
      if (!extracted) return outcomeOf(checks, performance.now() - t0);
      try {
        // Only reads: as whoever we are (root reads the postgres user's files).
        const said = await runServerTool(bin, 'pg_verifybackup', [dataDir], { asPostgres: false, signal: context.signal, timeoutMs: 24 * 3_600_000 });
        checks.push(check('pg_verifybackup', true, said.split('\n').pop() ?? 'verified'));
      } catch (error) {
        if (context.signal.aborted) throw error;
        if (error instanceof ToolMissingError) return skipped(error.message, error.message);
        checks.push(check('pg_verifybackup', false, (error as Error).message.replaceAll(dataDir, '<data directory>')));
        return outcomeOf(checks, performance.now() - t0);
      }
      // A folder the server's OS user cannot reach is the verifier's configuration, not the backup's fault.
      if (owner && spawnSync('runuser', ['-u', PG_USER, '--', 'test', '-x', dataDir]).status !== 0) {
        const why = `the ${PG_USER} OS user cannot reach the scratch folder: every folder above it (VERIFIER_SCRATCH_DIR) must be searchable by it`;
        return skipped(why, why);
      }
      const port = await freePort();
      const plan = this.options.wal ? await this.replayPlan(context.resource, facts) : null;
      if (plan?.files) fetcher = await startWalFetchServer({ scratchDir: dir.path, dataDir, files: plan.files, readers: this.options.wal!.readers, keys: this.options.wal!.keys, owner, signal: context.signal });
      const replay = plan?.files && fetcher ? { target: plan.target, restoreCommand: fetcher.restoreCommand } : null;
      await this.configure(dataDir, port, owner, replay);
      const logFile = join(dir.path, 'server.log');
      const startedAt = performance.now();
      try {
        started = true; // from here on a postmaster may be running: stopped below whatever happens
        // -w: returns once the server accepts connections (crash recovery of the backup's WAL done,
        // or, replaying, archive recovery to the target and promotion: hot_standby is off); the deadline kills the wait.
        await runServerTool(bin, 'pg_ctl', ['-D', dataDir, '-l', logFile, '-w', '-t', '86400', 'start'], { asPostgres: true, signal: context.signal, timeoutMs: 24 * 3_600_000 });
      } catch (error) {
        if (context.signal.aborted) throw error;
        if (error instanceof ToolMissingError) return skipped(error.message, error.message);
        const fatal = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').filter((l) => /FATAL|PANIC/.test(l)).slice(-2).join(' | ');
        checks.push(check('server started', false, redactSecrets(`${(error as Error).message}${fatal ? ` — ${fatal}` : ''}`).replaceAll(dir.path, '<scratch>')));
        if (fetcher?.notes().length) checks.push(check('WAL fetched from good copies', fetcher.failures().length === 0, fetcher.notes().join('; ').slice(0, 3_000)));
        return outcomeOf(checks, performance.now() - t0);
      }
      // Replaying, pg_ctl returns once archive recovery began (no hot standby): the server is ready once it promoted.
      const recovered = replay ? await this.waitRecovered(dataDir, port, logFile, context.signal) : null;
      const durationMs = performance.now() - t0;
      const replayMs = performance.now() - startedAt;
      if (recovered) {
        checks.push(check('server started', false, recovered.replaceAll(dir.path, '<scratch>')));
        if (fetcher?.notes().length) checks.push(check('WAL fetched from good copies', fetcher.failures().length === 0, fetcher.notes().join('; ').slice(0, 3_000)));
        return outcomeOf(checks, durationMs);
      }
      checks.push(check('server started', true, `accepting connections on 127.0.0.1:${port} ${Math.round(durationMs)} ms after opening ${context.copy.location}`));
      checks.push(...(await this.inspect(dataDir, port, facts)));
      // Nothing archived after the backup (or no WAL record): the backup's own WAL only, as before.
      if (!replay) return outcomeOf(checks, durationMs);
      const replayed = await this.replayChecks(dataDir, port, logFile, replay.target, fetcher!);
      checks.push(...replayed.checks);
      const outcome = outcomeOf(checks, durationMs);
      outcome.result.replay = { ...replayed.replay, durationMs: Math.round(replayMs) };
      return outcome;
    } finally {
      await fetcher?.close().catch(() => undefined);
      if (started) await this.stop(bin, dataDir);
      await dir.remove();
    }
  }

  /** Decompresses and extracts the copy into `dataDir`; false (with the failed check) when it could not be. */
  private async extract(context: RestoreTestContext, dataDir: string, owner: { uid: number; gid: number } | null, checks: RestoreCheck[]) {
    const declared = context.plaintext?.sizeBytes ?? context.copy.sizeBytes;
    let extraction: ReturnType<typeof cappedExtract> | null = null;
    try {
      const input = await openPlaintext(context);
      extraction = cappedExtract(dataDir, Math.max(declared * EXPANSION_FACTOR, EXPANSION_FLOOR), { owner, noLinks: true });
      // A server-compressed backup is one zstd frame of the server's tar, then a tar of backup_manifest (decision 0044).
      await pipeline(input.stream, (source: AsyncIterable<Buffer>) => zstdDecompressStream(source), (source: AsyncIterable<Buffer>) => tarPastEndMarkers(source), extraction.unpack, { signal: context.signal });
      const plaintext = input.digest();
      checks.push(check('extract', true, `${extraction.state.entries} entries from ${plaintext.sizeBytes} compressed bytes of ${context.copy.location}`));
      const plain = plaintextCheck(context, plaintext);
      if (plain) checks.push(plain);
      return plain?.passed ?? true;
    } catch (error) {
      if (context.signal.aborted) throw error;
      checks.push(check('extract', false, describeTarError(error, extraction?.state.entries ?? 0)));
      return false;
    }
  }

  /**
   * The scratch server's configuration is ours alone: the archive's `postgresql.conf`,
   * `postgresql.auto.conf` (ALTER SYSTEM), `pg_hba.conf` and `pg_ident.conf` are replaced, since
   * they could load libraries, run commands, point at another data directory or open the server
   * to the network. Its port and socket, loopback only, no SSL files, no archiving, no replication
   * or standby settings, small memory; authentication only through its own socket, whose folder
   * only its OS user (and root) can enter. Each file is removed before it is written (created
   * exclusively): a link in its place is never followed.
   */
  private async configure(dataDir: string, port: number, owner: { uid: number; gid: number } | null, replay: { target: ReplayTarget; restoreCommand: string } | null) {
    const settings: Record<string, string | number> = {
      port,
      listen_addresses: confString('127.0.0.1'),
      unix_socket_directories: confString(SOCKET_DIR_FOR_SERVER),
      unix_socket_permissions: '0700',
      max_connections: 20,
      shared_buffers: confString('32MB'),
      ssl: 'off',
      archive_mode: 'off',
      max_wal_senders: 0,
      max_replication_slots: 0,
      jit: 'off',
      logging_collector: 'off',
      // Archive recovery from the verifier's own fetch (wal-fetch.ts) to the target, then a primary;
      // no connections before recovery ended (so the start returns once it did).
      ...(replay
        ? {
            restore_command: confString(replay.restoreCommand),
            recovery_target_timeline: confString('latest'),
            recovery_target_action: confString('promote'),
            hot_standby: 'off',
            ...(replay.target.kind === 'restore-point' ? { recovery_target_name: confString(replay.target.name) } : {}),
          }
        : {}),
    };
    const files: Record<string, string> = {
      'postgresql.conf': `# continuity verifier: a scratch server, reachable only through its own socket\n${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`,
      'postgresql.auto.conf': '# continuity verifier: the source\'s ALTER SYSTEM settings are not used\n',
      'pg_hba.conf': 'local all all trust\n',
      'pg_ident.conf': '',
      ...(replay ? { 'recovery.signal': '' } : {}),
    };
    for (const [name, text] of Object.entries(files)) {
      const path = join(dataDir, name);
      await rm(path, { force: true });
      await writeFile(path, text, { flag: 'wx', mode: 0o600 });
      if (owner) await chown(path, owner.uid, owner.gid);
    }
  }

  /** What to replay and to where, from the verifier's WAL record (null files: nothing to replay, and why). */
  private async replayPlan(resource: string, facts: BaseBackupFacts) {
    const { archive } = this.options.wal!;
    const files = await archive.files(resource);
    const points = await archive.restorePoints(resource, facts.endLsn, 'FFFFFFFF/FFFFFFFF');
    return planReplay(files, points, facts);
  }

  /** After a replay: the target reached (replay position, and the server's own words for a restore point). */
  private async replayChecks(dataDir: string, port: number, logFile: string, target: ReplayTarget, fetcher: WalFetchServer): Promise<{ checks: RestoreCheck[]; replay: Omit<WalReplay, 'durationMs'> }> {
    const reached = await this.query<{ lsn: string | null }>(dataDir, port, 'SELECT pg_last_wal_replay_lsn()::text AS lsn').then(
      (rows) => rows[0]?.lsn ?? null,
      () => null,
    );
    const log = await readFile(logFile, 'utf8').catch(() => '');
    const ok = reached !== null && lsnValue(reached) >= lsnValue(target.lsn);
    const checks = [
      check(
        'WAL replayed to the target',
        ok,
        target.kind === 'restore-point'
          ? `restore point ${target.name} at ${target.lsn}; replayed to ${reached ?? 'nothing'}`
          : `the latest archived WAL: at least ${target.lsn} (${target.detail}); replayed to ${reached ?? 'nothing'}`,
      ),
    ];
    if (target.kind === 'restore-point') {
      const said = log.includes(`recovery stopping at restore point "${target.name}"`);
      checks.push(check('recovery stopped at the restore point', said, said ? `the server's log says so` : `the server's log does not say it stopped at restore point ${target.name}`));
    }
    const notes = fetcher.notes();
    checks.push(check('WAL fetched from good copies', fetcher.failures().length === 0, `${fetcher.fetched()} files fetched and hash-checked${notes.length ? `; ${notes.join('; ')}` : ''}`.slice(0, 3_000)));
    return { checks, replay: { target: target.kind, restorePoint: target.kind === 'restore-point' ? target.name : null, targetLsn: target.lsn, reachedLsn: reached, segmentsFetched: fetcher.fetched() } };
  }

  /**
   * Waits for archive recovery to end (the server accepts connections as a primary); the reason
   * when the server stopped instead (a target not reached is FATAL), null once it is up.
   */
  private async waitRecovered(dataDir: string, port: number, logFile: string, signal: AbortSignal): Promise<string | null> {
    for (;;) {
      signal.throwIfAborted();
      const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
      let alive = false;
      try {
        alive = pid > 0 && process.kill(pid, 0);
      } catch {
        alive = false;
      }
      if (!alive) {
        const fatal = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').filter((l) => /FATAL|PANIC/.test(l)).slice(-2).join(' | ');
        return redactSecrets(`the server stopped during WAL replay${fatal ? `: ${fatal}` : ''}`);
      }
      const inRecovery = await this.query<{ r: boolean }>(dataDir, port, 'SELECT pg_is_in_recovery() AS r').then(
        (rows) => rows[0]?.r ?? true,
        () => true, // not accepting connections yet
      );
      if (!inRecovery) return null;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private async query<R>(dataDir: string, port: number, sql: string): Promise<R[]> {
    const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
    const client = new Client({ host: `/proc/${pid}/cwd`, port, user: asRoot() ? PG_USER : userInfo().username, database: 'template1', connectionTimeoutMillis: 10_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.query(sql)).rows as R[];
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** The checks the started server must pass. */
  private async inspect(dataDir: string, port: number, facts: BaseBackupFacts): Promise<RestoreCheck[]> {
    const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
    if (!pid) return [check('answers queries', false, 'the server started but wrote no postmaster.pid')];
    // The bootstrap superuser is the OS user that ran initdb: postgres on packaged servers.
    const client = new Client({ host: `/proc/${pid}/cwd`, port, user: asRoot() ? PG_USER : userInfo().username, database: 'template1', connectionTimeoutMillis: 10_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ one: number; recovery: boolean; lsn: string; sid: string }>(
        'SELECT 1 AS one, pg_is_in_recovery() AS recovery, pg_current_wal_lsn()::text AS lsn, (SELECT system_identifier::text FROM pg_control_system()) AS sid',
      );
      const row = rows[0]!;
      return [
        check('answers queries', row.one === 1, 'select 1'),
        check('recovery ended', !row.recovery, row.recovery ? 'still in recovery (pg_is_in_recovery())' : 'a primary (pg_is_in_recovery() false)'),
        check('WAL position reached', lsnValue(row.lsn) >= lsnValue(facts.endLsn), `at ${row.lsn}; the backup ends at ${facts.endLsn}`),
        check('system identifier', row.sid === facts.systemIdentifier, row.sid === facts.systemIdentifier ? row.sid : `the server's is ${row.sid}; the event says ${facts.systemIdentifier}`),
      ];
    } catch (error) {
      return [check('answers queries', false, redactSecrets((error as Error).message))];
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Immediate shutdown (a scratch copy: nothing to flush); the scratch removal kills what is left. */
  private async stop(bin: string, dataDir: string) {
    await runServerTool(bin, 'pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', '-t', '60', 'stop'], { asPostgres: true, timeoutMs: 90_000 }).catch(() => undefined);
  }
}
