import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, lstat, lutimes, mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { RestorePerformedV1 } from '@continuity/contracts';
import { assertRestoreMaintenanceWorkMem, flushCommits, redactSecrets, restoreSessionEnv, withConnection } from '@continuity/runtime/standalone';
import { extract as extractTar } from 'tar';
import { decryptStream, parseManifest, type ArtifactKey, type ArtifactManifest } from '@continuity/artifacts';
import type { BackupLocation } from '../backup-run/locations/location.js';
import { pgToolInvocation } from '../backup-run/sources/pg-tool.js';
import type { BackupRecord, Catalogue } from '../catalogue/catalogue.js';
import { orderCopies } from './copy-order.policy.js';
import type { ResourceConfig } from '../config/backup-config.schema.js';
import { dataDirectoryTarget, DataDirectoryOutcome } from './data-directory.target.js';
import { RestoreError } from './restore.errors.js';
import { allowRestoreTarget, AllowedTarget, TargetKind } from './restore-target.guard.js';

/** Who asked for a restore: recorded in its RestorePerformed. */
export interface RestoreRequester {
  via: 'http' | 'cli';
  /** The operator's name when known (the CLI's user; over HTTP, the authenticated caller). */
  operator: string | null;
}

export interface RestoreOptions {
  backupId: string;
  /** A directory path, or a postgres:// URL of the database to restore into; must match the resource's restoreTargets. */
  to: string;
  requestedBy: RestoreRequester;
  /** The CLI's `--allow-any-target`: skip the restoreTargets check (recorded in RestorePerformed). */
  anyTarget?: boolean;
  /** The id RestorePerformed carries (default: a new one). */
  restoreId?: string;
  /** age identities (AGE-SECRET-KEY-1…) for an encrypted backup. */
  identities?: string[];
  /** Restore over a non-empty target: PostgreSQL drops what the dump recreates; a directory is replaced. */
  clean?: boolean;
  /** Where a PostgreSQL dump is staged before pg_restore (default: the OS temp dir). */
  stagingDir?: string;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** Things an operator must hear: a copy refused, a fall-back. */
  onNotice?: (message: string) => void;
  /** A base backup restored into a data directory: start it on this port and report where it got. */
  start?: { port: number } | null;
  /**
   * The stored artifact as an independent record (the audit ledger's BackupCreated) has it: only
   * copies listed with this SHA-256 and size are used (the bytes are then checked against it).
   */
  recorded?: { sha256: string; sizeBytes: number; by: string } | null;
  /** Called with the target once it is allowed, before anything is read or written (a point-in-time restore starts fetching WAL then). */
  onTargetAllowed?: (to: string) => Promise<void>;
}

export interface CopyAttempt {
  location: string;
  uri: string;
  ok: boolean;
  error: string | null;
}

export interface RestoreResult {
  backupId: string;
  resource: string;
  kind: 'postgres' | 'directory' | 'data-directory';
  target: string;
  copy: { location: string; uri: string };
  attempts: CopyAttempt[];
  bytes: number;
  /** From the first byte read to the end (a started base backup: until it answered): the data-recovery RTO. */
  durationMs: number;
  /** Base backups: `pg_verifybackup`'s verdict, the WAL range, and the started server (with `start`). */
  dataDirectory?: DataDirectoryOutcome;
}

interface Target {
  kind: RestoreResult['kind'];
  /** The target holds data the restore replaces (only with `clean`). */
  overwrites: boolean;
  /** Stream the verified plaintext into staging. */
  stage(input: Readable): Promise<void>;
  /** The stored bytes matched: make the staged data the restored resource. */
  apply(manifest: ArtifactManifest | null): Promise<void>;
  /** Drop the staged data (a copy was refused, or the restore failed). */
  discard(): Promise<void>;
  /** A data directory's verification and server, after `apply`. */
  outcome?(): DataDirectoryOutcome | null;
}

export interface RestoreDeps {
  catalogue: Pick<Catalogue, 'get'>;
  location: (name: string) => BackupLocation | null;
  /** The configured resource (its `restoreTargets`); undefined when it is no longer configured. */
  resource: (name: string) => ResourceConfig | undefined;
  /** Records RestorePerformed (through the catalogue's outbox). */
  recordPerformed: (resource: string, data: RestorePerformedV1) => Promise<void>;
  now?: () => Date;
  /**
   * `pg_restore --jobs` of a dump into a database this restore creates (default 1). A restore over
   * an existing database keeps `--single-transaction` (all or nothing), which cannot run in parallel.
   */
  jobs?: number;
  /** `maintenance_work_mem` of pg_restore's sessions (`<n>kB|MB|GB`), into any database; absent: the server's own. */
  maintenanceWorkMem?: string;
}

/**
 * Restores a backup from one of its copies. The stored bytes are hashed while they stream into a
 * staging area (a file for a dump, a directory for a tar); only when size and SHA-256 match the
 * catalogue does the staged data become the target. A copy that does not match (or cannot be
 * read) is refused, said so, and the next copy is tried. The whole copy is always hashed, even
 * when staging fails, so a failure is blamed on the copy only when its bytes are wrong: with the
 * right bytes, a wrong key or a pg_restore error is final (another copy would fail the same way).
 */
export class RestoreService {
  private readonly now: () => Date;

  /** Throws `InvalidRestoreSettingError` for a `maintenanceWorkMem` that is not a bounded size (before any restore creates a database). */
  constructor(private readonly deps: RestoreDeps) {
    assertRestoreMaintenanceWorkMem(deps.maintenanceWorkMem ?? null);
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Whether `to` may receive a restore of `record`'s resource (its `restoreTargets`, or
   * `anyTarget`): throws `RestoreTargetNotAllowedError` (403) before anything is read or written.
   */
  authorize(record: Pick<BackupRecord, 'resource' | 'resourceKind' | 'method'>, to: string, options: { anyTarget?: boolean } = {}): Promise<AllowedTarget> {
    return allowRestoreTarget(record.resource, this.deps.resource(record.resource), targetKindOf(record), to, options);
  }

  /**
   * Restores a backup if its target is allowed. Every restore that gets past that check publishes
   * one RestorePerformed, restored or failed (a failure to record it is a notice: the data is
   * restored either way).
   */
  async restore(options: RestoreOptions): Promise<RestoreResult> {
    const record = await this.deps.catalogue.get(options.backupId);
    if (!record) throw new RestoreError('RESTORE.NOT_FOUND', `backup ${options.backupId} is not in the catalogue`);
    if (record.state !== 'created') {
      const why = record.state === 'expired' ? `expired at ${record.expiredAt} (its copies were deleted)` : record.state === 'failed' ? 'failed' : 'still running';
      throw new RestoreError('RESTORE.NOT_RESTORABLE', `backup ${record.backupId} of ${record.resource} ${why}: nothing to restore`);
    }
    const allowed = await this.authorize(record, options.to, options);
    const startedAt = this.now().toISOString();
    const performed = (outcome: { result: RestoreResult; overwritten: boolean } | { error: Error }): RestorePerformedV1 => ({
      restoreId: options.restoreId ?? uuidv7(),
      backupId: record.backupId,
      targetKind: allowed.kind,
      target: allowed.redacted,
      overwritten: 'result' in outcome && outcome.overwritten,
      outcome: 'result' in outcome ? 'restored' : 'failed',
      error: 'error' in outcome ? redactSecrets(outcome.error.message) : null,
      copy: 'result' in outcome ? outcome.result.copy.location : null,
      requestedBy: options.requestedBy,
      targetAllowedBy: allowed.allowedBy,
      startedAt,
      finishedAt: this.now().toISOString(),
    });
    const recordOutcome = (data: RestorePerformedV1) =>
      this.deps.recordPerformed(record.resource, data).catch((error: Error) => options.onNotice?.(`could not record RestorePerformed: ${redactSecrets(error.message)}`));
    let target: Target | null = null;
    try {
      await options.onTargetAllowed?.(allowed.to);
      const result = await this.restoreAllowed(record, { ...options, to: allowed.to }, (prepared) => (target = prepared));
      await recordOutcome(performed({ result, overwritten: (target as Target | null)?.overwrites ?? false }));
      return result;
    } catch (error) {
      await recordOutcome(performed({ error: error as Error }));
      throw error;
    }
  }

  private async restoreAllowed(record: BackupRecord, options: RestoreOptions, onTarget: (target: Target) => void): Promise<RestoreResult> {
    const started = Date.now();
    const notice = options.onNotice ?? (() => undefined);
    if (record.encryption && !options.identities?.length) {
      throw new RestoreError(
        'RESTORE.KEY_REQUIRED',
        `backup ${record.backupId} is encrypted (age, to ${record.encryption.recipients.join(', ')}) and no key was given: pass the key file holding its AGE-SECRET-KEY (--key <file>)`,
      );
    }
    const target = await this.prepareTarget(record, options);
    onTarget(target);
    const key: ArtifactKey = { resource: record.resource, backupId: record.backupId, extension: record.artifactExtension };
    const recorded = options.recorded ?? null;
    const listed = recorded ? record.copies.filter((c) => c.sha256 === recorded.sha256 && c.sizeBytes === recorded.sizeBytes) : record.copies;
    const { ordered, unavailable } = orderCopies(listed, (name) => this.deps.location(name)?.kind ?? null);
    const attempts: CopyAttempt[] = unavailable.map(({ copy, reason }) => ({ location: copy.location, uri: copy.uri, ok: false, error: reason }));
    for (const copy of record.copies.filter((c) => !listed.includes(c))) {
      const reason = `listed with ${copy.sizeBytes} bytes and SHA-256 ${copy.sha256}, not the ${recorded!.sizeBytes} bytes with ${recorded!.sha256} ${recorded!.by} recorded`;
      notice(`cannot use copy ${copy.location}: ${reason}`);
      attempts.push({ location: copy.location, uri: copy.uri, ok: false, error: reason });
    }
    for (const { reason } of unavailable) notice(`cannot use a copy: ${reason}`);
    for (const [i, copy] of ordered.entries()) {
      const location = this.deps.location(copy.location)!;
      const outcome = await this.stageCopy(record, location, key, copy, target, options);
      if (outcome.ok) {
        const manifest = await location
          .readManifest(key)
          .then((bytes) => (bytes ? parseManifest(bytes) : null))
          .catch(() => null);
        try {
          await target.apply(manifest);
        } catch (error) {
          await target.discard().catch(() => undefined);
          throw new RestoreError('RESTORE.APPLY_FAILED', `restoring ${record.backupId} into ${redact(options.to)} failed: ${(error as Error).message}`, { cause: error });
        }
        attempts.push({ location: copy.location, uri: copy.uri, ok: true, error: null });
        return {
          backupId: record.backupId,
          resource: record.resource,
          kind: target.kind,
          target: redact(options.to),
          copy: { location: copy.location, uri: copy.uri },
          attempts,
          bytes: copy.sizeBytes,
          durationMs: Date.now() - started,
          ...(target.outcome?.() ? { dataDirectory: target.outcome()! } : {}),
        };
      }
      await target.discard().catch((error: Error) => notice(`could not remove the staged data: ${error.message}`));
      attempts.push({ location: copy.location, uri: copy.uri, ok: false, error: outcome.error });
      if (outcome.final) throw new RestoreError('RESTORE.FAILED', `restoring ${record.backupId} from ${copy.location} failed: ${outcome.error}`);
      const next = ordered[i + 1];
      notice(`refused copy ${copy.location} (${copy.uri}): ${outcome.error}${next ? `; trying ${next.location}` : ''}`);
    }
    throw new RestoreError(
      'RESTORE.NO_HEALTHY_COPY',
      `no healthy copy of backup ${record.backupId}: ${attempts.map((a) => `${a.location}: ${a.error}`).join('; ')}`,
    );
  }

  /** Hashes the whole copy while staging it; says whether it can be used, and whether trying another could help. */
  private async stageCopy(
    record: BackupRecord,
    location: BackupLocation,
    key: ArtifactKey,
    copy: { location: string; sha256: string; sizeBytes: number },
    target: Target,
    options: RestoreOptions,
  ): Promise<{ ok: true } | { ok: false; final: boolean; error: string }> {
    let raw: Readable;
    try {
      raw = await location.read(key);
    } catch (error) {
      return { ok: false, final: false, error: `unreadable: ${(error as Error).message}` };
    }
    const hash = createHash('sha256');
    let bytes = 0;
    const toStage = new PassThrough({ highWaterMark: 1 << 20 });
    let stageFailed: Error | null = null;
    let wake: (() => void) | null = null;
    const feeding = (async () => {
      for await (const chunk of raw as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
        options.onProgress?.(bytes, copy.sizeBytes);
        if (stageFailed) continue; // keep hashing: the verdict on the copy needs every byte
        if (!toStage.write(chunk)) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            toStage.once('drain', resolve);
          });
          wake = null;
        }
      }
      toStage.end();
    })();
    const plainHash = createHash('sha256');
    const staging = (async () => {
      const stored: Readable = toStage;
      const plain = record.encryption ? await decryptStream(stored, options.identities ?? [], `backup ${record.backupId}`) : stored;
      const tapped = plain.pipe(
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            plainHash.update(chunk);
            callback(null, chunk);
          },
        }),
      );
      plain.on('error', (error) => tapped.destroy(error));
      await target.stage(tapped);
    })().catch((error: Error) => {
      stageFailed = error;
      toStage.resume(); // drop what was buffered for the failed stage
      (wake as (() => void) | null)?.();
      throw error;
    });
    staging.catch(() => undefined);
    try {
      await feeding;
    } catch (error) {
      stageFailed ??= error as Error;
      toStage.destroy();
      await staging.catch(() => undefined);
      return { ok: false, final: false, error: `unreadable after ${bytes} bytes: ${(error as Error).message}` };
    }
    const stageError = await staging.then(
      () => null,
      (error: Error) => error,
    );
    const sha256 = hash.digest('hex');
    if (sha256 !== copy.sha256 || bytes !== copy.sizeBytes) {
      return {
        ok: false,
        final: false,
        error: `SHA-256 mismatch: the copy holds ${bytes} bytes with SHA-256 ${sha256}, the backup is ${copy.sizeBytes} bytes with ${copy.sha256}`,
      };
    }
    if (stageError) return { ok: false, final: true, error: stageError.message };
    if (record.plaintext && plainHash.digest('hex') !== record.plaintext.sha256) {
      return { ok: false, final: true, error: 'the decrypted artifact does not match the plaintext SHA-256 recorded at backup time' };
    }
    return { ok: true };
  }

  /** The target's kind was checked with it (`authorize`). */
  private async prepareTarget(record: BackupRecord, options: RestoreOptions): Promise<Target> {
    if (record.method === 'basebackup') {
      if (options.clean) throw new RestoreError('RESTORE.WRONG_TARGET', 'a base backup is restored into a new or empty data directory: --clean does not apply', { status: 400 });
      const resource = this.deps.resource(record.resource);
      if (options.start && resource?.kind !== 'postgres') {
        throw new RestoreError('RESTORE.WRONG_TARGET', `${record.resource} is no longer a configured PostgreSQL resource: its connection is what the started server is asked with`, { status: 400 });
      }
      const target = await dataDirectoryTarget(options.to, { start: options.start && resource?.kind === 'postgres' ? { port: options.start.port, connection: resource.connection } : null });
      return { kind: 'data-directory', ...target, apply: (manifest) => target.apply(manifest?.basebackup ?? null) };
    }
    return record.resourceKind === 'postgres' ? postgresTarget(options, record.backupId, { jobs: this.deps.jobs ?? 1, maintenanceWorkMem: this.deps.maintenanceWorkMem ?? null }) : directoryTarget(options.to, options.clean ?? false);
  }
}

const redact = redactSecrets;

/** A base backup is restored into a data directory, whatever its resource's kind. */
const targetKindOf = (record: Pick<BackupRecord, 'resourceKind' | 'method'>): TargetKind => (record.method === 'basebackup' ? 'directory' : (record.resourceKind as TargetKind));

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * A database to restore into: created when missing; a non-empty one only with `clean`. The dump is
 * staged to a file first (its bytes are checked before anything is restored), so pg_restore can
 * seek in it: into a database created here it restores with `jobs` connections, and a failure drops
 * the database again (nothing half-restored is left); into an existing one it restores in one
 * transaction, so a failure leaves the database as it was.
 */
const postgresTarget = async (options: RestoreOptions, backupId: string, { jobs, maintenanceWorkMem }: { jobs: number; maintenanceWorkMem: string | null }): Promise<Target> => {
  const url = new URL(options.to);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!database) throw new RestoreError('RESTORE.WRONG_TARGET', `${redact(options.to)} names no database`);
  const adminUrl = new URL(options.to);
  adminUrl.pathname = '/postgres';
  const admin = new Client({ connectionString: adminUrl.toString(), connectionTimeoutMillis: 5_000 });
  let relations = 0;
  let created = false;
  try {
    await admin.connect();
    const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount;
    if (!exists) {
      await admin.query(`CREATE DATABASE ${quoteIdent(database)}`);
      created = true;
    } else {
      const target = new Client({ connectionString: options.to, connectionTimeoutMillis: 5_000 });
      await target.connect();
      const { rows } = await target
        .query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`,
        )
        .finally(() => target.end());
      relations = rows[0]!.n;
      if (relations > 0 && !options.clean) {
        throw new RestoreError('RESTORE.TARGET_NOT_EMPTY', `database ${database} already holds ${relations} relations: restore into a new database, or pass --clean to replace them`, {
          status: 409,
        });
      }
    }
  } catch (error) {
    if (error instanceof RestoreError) throw error;
    throw new RestoreError('RESTORE.TARGET_UNREACHABLE', `cannot prepare database ${database} at ${redact(options.to)}: ${(error as Error).message}`, { cause: error });
  } finally {
    await admin.end().catch(() => undefined);
  }
  const file = join(options.stagingDir ?? tmpdir(), `continuity-restore-${backupId}-${randomBytes(4).toString('hex')}.dump`);
  return {
    kind: 'postgres',
    overwrites: relations > 0,
    stage: (input) => pipeline(input, createWriteStream(file, { mode: 0o600, flags: 'wx', highWaterMark: 1 << 20 })),
    apply: async () => {
      try {
        const parallel = created && jobs > 1;
        const atomicity = parallel ? [`--jobs=${jobs}`] : ['--single-transaction'];
        const pgRestore = pgToolInvocation(options.to, ['--exit-on-error', ...atomicity, '--no-password', ...(options.clean ? ['--clean', '--if-exists'] : []), file]);
        // Into a database made here, commits need not wait for the disk until the restore is done
        // (flushed once at the end); into an existing one, the server's own durability applies.
        // Index builds sort in memory up to the configured maintenance_work_mem either way.
        const env = { ...pgRestore.env, ...restoreSessionEnv({ newDatabase: created, maintenanceWorkMem }, pgRestore.env.PGOPTIONS) };
        await new Promise<void>((resolve, reject) => {
          const child = spawn('pg_restore', pgRestore.args, { stdio: ['ignore', 'ignore', 'pipe'], env });
          let stderr = '';
          child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
          child.once('error', (error) => reject(new Error(`cannot run pg_restore: ${error.message}`)));
          child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg_restore exited with ${code}: ${stderr.trim()}`))));
        }).catch(async (error: Error) => {
          // Several transactions committed before the failure: the database this restore made goes again.
          if (parallel) await dropDatabase(adminUrl.toString(), database).catch(() => undefined);
          throw error;
        });
        // Restored means on disk: the commits pg_restore made without waiting are flushed now.
        if (created) await flushCommits(options.to);
      } finally {
        await rm(file, { force: true });
      }
    },
    discard: () => rm(file, { force: true }),
  };
};

const dropDatabase = (adminUrl: string, database: string) =>
  withConnection(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)}`));

/**
 * A directory that does not exist yet or is empty — or, with `clean`, one whose contents are
 * replaced: the tar is extracted beside it, then renamed into place (a replaced directory is moved
 * aside first and removed after, so the target is never half old, half new).
 */
const directoryTarget = async (to: string, clean: boolean): Promise<Target> => {
  if (!isAbsolute(to)) throw new RestoreError('RESTORE.WRONG_TARGET', `${to} must be an absolute path`);
  const existing = await lstat(to).catch(() => null);
  if (existing && !existing.isDirectory()) throw new RestoreError('RESTORE.WRONG_TARGET', `${to} exists and is not a directory`);
  const overwrites = existing !== null && (await readdir(to)).length > 0;
  if (overwrites && !clean) {
    throw new RestoreError('RESTORE.TARGET_NOT_EMPTY', `${to} is not empty: restore into a new or empty directory, or pass --clean (clean: true) to replace it`, { status: 409 });
  }
  await mkdir(dirname(to), { recursive: true });
  let staging = '';
  const fresh = async () => {
    staging = join(dirname(to), `.${basename(to)}.restore-${randomBytes(4).toString('hex')}`);
    await mkdir(staging, { mode: 0o700 });
  };
  return {
    kind: 'directory',
    overwrites,
    stage: async (input) => {
      await fresh();
      const asRoot = process.getuid?.() === 0;
      await pipeline(input, extractTar({ cwd: staging, strict: true, chmod: true, processUmask: 0, preserveOwner: asRoot }));
    },
    apply: async (manifest) => {
      // Creating entries touched their parents' mtimes: set directories' (and links') modes and times from the index, deepest first.
      for (const entry of [...(manifest?.files ?? [])].reverse()) {
        const path = join(staging, entry.path);
        const time = new Date(entry.mtime);
        if (entry.type === 'directory') {
          await chmod(path, entry.mode);
          await lutimes(path, time, time);
        } else if (entry.type === 'symlink') {
          await lutimes(path, time, time).catch(() => undefined);
        }
      }
      if (overwrites) {
        const replaced = join(dirname(to), `.${basename(to)}.replaced-${randomBytes(4).toString('hex')}`);
        await rename(to, replaced);
        await rename(staging, to).catch(async (error: Error) => {
          await rename(replaced, to);
          throw error;
        });
        await rm(replaced, { recursive: true, force: true, maxRetries: 5 });
      } else {
        if (existing) await rmdir(to);
        await rename(staging, to);
      }
    },
    discard: async () => {
      if (staging) await rm(staging, { recursive: true, force: true, maxRetries: 5 });
    },
  };
};
