import { appendFile, chown, lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Client } from 'pg';
import { RESTORE_PLAN_FILE, RESTORE_PLAN_FORMAT, WAL_FETCH_LOG, type RestorePlan, type WalFetchOutcome } from '@continuity/artifacts';
import type { BackupLocation } from '../backup-run/locations/location.js';
import type { BackupRecord, Catalogue } from '../catalogue/catalogue.js';
import { policyForResource, type BackupConfig } from '../config/backup-config.loader.js';
import { baseBackupCandidate, walRecordsFromCopies } from './archive-index.js';
import { checkBaseBackupsAgainstLedger, checkWalAgainstLedger, recordedVersions } from './ledger-check.policy.js';
import type { LedgerWal } from './ledger-wal.js';
import { orderCopies } from './copy-order.policy.js';
import { firstStartArgs, idOf, pgServerBin, restoredConnection, runServerTool } from './data-directory.target.js';
import { chooseBaseBackup, recoverySettings, shellWord, walChainFor, type ArchivedWal, type BaseBackupCandidate } from './pitr-plan.policy.js';
import { describeTarget, targetValue, type RecoveryTarget } from './recovery-target.js';
import { RestoreError } from './restore.errors.js';
import { recoveryPhases, type RecoveryPhases } from './restore-phases.js';
import { prefetchFolderBeside, prefetchingRestoreCommand, WalPrefetcher } from './wal-prefetch.js';
export type { RecoveryPhases } from './restore-phases.js';
import type { RestoreRequester, RestoreResult, RestoreService } from './restore.service.js';

/**
 * Point-in-time restore (PITR): the newest base backup before the target, restored through the
 * ordinary restore (hash-checked copy, fall-back, pg_verifybackup), then a restore plan and
 * recovery settings written into the data directory: PostgreSQL's `restore_command` is
 * `continuity wal-fetch`, which reads the plan and fetches each WAL file from the copies with
 * hash checks. With `start`, the server is started, recovery followed until it has promoted, and
 * the moment reached reported; WAL that no copy could give back makes the restore fail, saying
 * where recovery stopped ([decision 0023](../../../../docs/decisions/0023-point-in-time-restore.md)).
 */

export interface PointInTimeOptions {
  resource: string;
  target: RecoveryTarget;
  toDataDir: string;
  start: { port: number } | null;
  requestedBy: RestoreRequester;
  anyTarget?: boolean;
  /** age identities and the key file holding them (its path goes into the plan for wal-fetch). */
  identities: string[];
  keyFile: string | null;
  onNotice?: (message: string) => void;
  onProgress?: (done: number, total: number) => void;
  /** Check every WAL file against the WalArchived events of the audit ledger (read after the target is authorized). */
  ledger?: { read(): Promise<LedgerWal> } | null;
}

export interface LedgerOutcome {
  source: string;
  /** WalArchived events read, and entries skipped (recorded but not acted on, or not valid). */
  events: number;
  untrusted: number;
  /** WAL files whose copies hold the version the ledger recorded. */
  checked: number;
  refused: { name: string; reason: string }[];
  /** The base backup restored, as its BackupCreated in the ledger recorded it; and those refused. */
  baseBackup: { backupId: string; sha256: string };
  baseBackupsRefused: { backupId: string; reason: string }[];
  /** The signed head (checked with a pinned key) every event relied on was proven in; null: the ledger's answer was not verified. */
  verified: LedgerWal['verified'];
}

export interface RecoveryOutcome {
  /** Recovery ended and the server promoted (a primary on a new timeline). */
  promoted: boolean;
  /** `pg_last_wal_replay_lsn()` and `pg_last_xact_replay_timestamp()`: how far replay got. */
  reachedLsn: string | null;
  reachedTime: string | null;
  /** WAL files served by wal-fetch, and by which copy. */
  walFilesReplayed: number;
  servedBy: Record<string, number>;
  /** Copies refused on the way (and the copy used instead). */
  refused: { name: string; location: string; error: string }[];
  /** A WAL file of the plan no copy could give: recovery stopped before it. */
  stoppedAt: { name: string; reasons: string[] } | null;
  /** From the first byte of the base backup read to the promoted server: the data-recovery RTO. */
  durationMs: number;
  /** Where `durationMs` went (milliseconds); `otherMs` is the rest (listing, planning, writing the recovery settings). */
  phases: RecoveryPhases;
  logFile: string;
}

export interface PointInTimeResult {
  resource: string;
  target: string;
  base: RestoreResult;
  backup: BaseBackupCandidate;
  walFiles: number;
  archiveEndLsn: string;
  archiveGapAt: string | null;
  recordsFrom: string;
  ledger: LedgerOutcome | null;
  recovery: RecoveryOutcome | null;
}

export interface PointInTimeDeps {
  catalogue: Pick<Catalogue, 'list'>;
  restore: Pick<RestoreService, 'restore' | 'authorize'>;
  config: BackupConfig;
  location: (name: string) => BackupLocation | null;
  /** The NATS credential files object-store copies are read with (their paths go into the plan for wal-fetch). */
  natsAuthFiles?: { NATS_CREDS?: string; NATS_NKEY_SEED_FILE?: string; NATS_CA?: string };
  /** The command PostgreSQL runs as restore_command, before `%f %p` (default: this build's wal-fetch). */
  walFetchCommand?: string[];
  now?: () => Date;
}

const asRoot = () => process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const defaultWalFetch = () => [process.execPath, resolve(__dirname, '..', 'cli', 'wal-fetch.main.js')];

export class PointInTimeRestore {
  constructor(private readonly deps: PointInTimeDeps) {}

  async run(options: PointInTimeOptions): Promise<PointInTimeResult> {
    const started = Date.now();
    const notice = options.onNotice ?? (() => undefined);
    const policy = policyForResource(this.deps.config, options.resource);
    if (!policy || policy.resource.kind !== 'postgres') throw new RestoreError('RESTORE.NOT_FOUND', `${options.resource} is not a configured PostgreSQL resource`, { status: 404 });
    if (!isAbsolute(options.toDataDir)) throw new RestoreError('RESTORE.WRONG_TARGET', `${options.toDataDir} must be an absolute path`, { status: 400 });
    if ((await lstat(options.toDataDir).catch(() => null))?.isSymbolicLink()) {
      throw new RestoreError('RESTORE.WRONG_TARGET', `${options.toDataDir} is a symbolic link: restore into a real, new or empty directory`, { status: 400 });
    }
    // Refused before anything is read: the same rule as every restore.
    await this.deps.restore.authorize({ resource: options.resource, resourceKind: 'postgres', method: 'basebackup' }, options.toDataDir, options);

    const records = (await this.deps.catalogue.list({ resource: options.resource, states: ['created'] })).filter((r) => r.method === 'basebackup');
    const candidates: { candidate: BaseBackupCandidate; record: BackupRecord }[] = [];
    for (const record of records) {
      const candidate = await baseBackupCandidate(record, this.deps.location);
      if (candidate) candidates.push({ candidate, record });
      else notice(`base backup ${record.backupId}: no copy's manifest gives its WAL range; not considered`);
    }
    const ledger = options.ledger ? await options.ledger.read() : null;
    // With the ledger, a base backup is one it recorded, through copies listed as it recorded them.
    const ledgerBases = ledger ? checkBaseBackupsAgainstLedger(candidates.map((c) => c.record), ledger.baseBackups) : null;
    for (const r of ledgerBases?.refused ?? []) notice(`base backup ${r.backupId} refused: ${r.reason} (ledger at ${ledger!.source}); not considered`);
    if (ledgerBases && candidates.length && !ledgerBases.kept.size) {
      throw new RestoreError('RESTORE.NO_BASE_BACKUP', `none of the ${candidates.length} base backup(s) of ${options.resource} is listed as the audit ledger at ${ledger!.source} recorded it (each refused above): nothing restored`);
    }
    const backup = chooseBaseBackup(
      candidates.filter((c) => !ledgerBases || ledgerBases.kept.has(c.candidate.backupId)).map((c) => c.candidate),
      options.target,
    );
    const record = candidates.find((c) => c.candidate.backupId === backup.backupId)!.record;
    const recordedBase = ledgerBases?.kept.get(backup.backupId);
    let wal = await walRecordsFromCopies(policy, this.deps.location, notice, ledger ? recordedVersions(ledger.versions) : undefined);
    let ledgerOutcome: LedgerOutcome | null = null;
    // To the latest moment, the newest segment the copies hold must be replayed: one the ledger refused counts as not reached.
    let newestArchived: string | null = null;
    if (ledger) {
      if (options.target.kind === 'latest') newestArchived = walChainFor(wal, backup, options.target).lastSegment;
      const check = checkWalAgainstLedger(wal, ledger.versions);
      for (const r of check.refused) notice(`WAL file ${r.name} refused: ${r.reason} (ledger at ${ledger.source}); recovery cannot go past it`);
      for (const d of check.droppedCopies) notice(`copy ${d.location} of WAL file ${d.name} does not hold the bytes the ledger recorded: not used`);
      wal = check.kept;
      ledgerOutcome = {
        source: ledger.source,
        events: ledger.events,
        untrusted: ledger.untrusted,
        checked: check.kept.length,
        refused: check.refused,
        baseBackup: { backupId: backup.backupId, sha256: recordedBase!.sha256 },
        baseBackupsRefused: ledgerBases!.refused,
        verified: ledger.verified,
      };
    }
    const chain = walChainFor(wal, backup, options.target);
    if (chain.gapAt) notice(`the WAL archive has a hole at ${chain.gapAt}: recovery cannot go past it`);
    const encrypted = record.encryption !== null || policy.encryption !== null;
    if (encrypted && (!options.identities.length || !options.keyFile)) {
      throw new RestoreError(
        'RESTORE.KEY_REQUIRED',
        `the base backup and WAL of ${options.resource} are encrypted (age${record.encryption ? `, to ${record.encryption.recipients.join(', ')}` : ''}) and no key was given: pass the key file holding its AGE-SECRET-KEY (--key <file>)`,
      );
    }

    const plan = this.plan(options, policy.copies, backup, chain.files, encrypted ? resolve(options.keyFile!) : null, ledgerOutcome?.source ?? null);
    // With --start the restore follows recovery: the plan's WAL is fetched ahead of PostgreSQL's
    // requests from the moment the target is allowed, while the base backup is staged and verified.
    const prefetch: { fetcher: WalPrefetcher | null } = { fetcher: null };
    const startPrefetch = async (to: string) => {
      const fetcher = new WalPrefetcher({
        dataDir: to,
        folder: prefetchFolderBeside(to),
        plan,
        read: async (name, key) => {
          const location = this.deps.location(name);
          if (!location) throw new Error(`location "${name}" is not configured`);
          return location.read(key);
        },
        identities: options.identities,
        owner: asRoot() ? { uid: idOf('-u'), gid: idOf('-g') } : null,
      });
      // Only a head start: without it every file goes through wal-fetch.
      try {
        await mkdir(dirname(to), { recursive: true }); // the allowed target's parent, as the restore makes it
        await fetcher.start();
        prefetch.fetcher = fetcher;
      } catch (error) {
        notice(`WAL is not fetched ahead of recovery: ${(error as Error).message}`);
        await fetcher.stop().catch(() => undefined);
      }
    };
    try {
      const base = await this.deps.restore.restore({
        backupId: backup.backupId,
        to: options.toDataDir,
        start: null,
        requestedBy: options.requestedBy,
        anyTarget: options.anyTarget,
        identities: options.identities,
        onNotice: options.onNotice,
        onProgress: options.onProgress,
        onTargetAllowed: options.start ? startPrefetch : undefined,
        recorded: recordedBase ? { sha256: recordedBase.sha256, sizeBytes: recordedBase.sizeBytes, by: `the ledger at ${ledger!.source}` } : null,
      });
      const dataDir = options.toDataDir;
      // For recovery, the prefetched files wait inside the (0700) data directory.
      const fetcher = prefetch.fetcher;
      if (fetcher) {
        await fetcher.moveInto(dataDir).catch(async (error: Error) => {
          notice(`WAL is not fetched ahead of recovery: ${error.message}`);
          prefetch.fetcher = null;
          await fetcher.stop().catch(() => undefined);
        });
      }
      await this.writeRecoveryFiles(dataDir, plan, options, prefetch.fetcher !== null);
      const result: PointInTimeResult = {
        resource: options.resource,
        target: describeTarget(options.target),
        base,
        backup,
        walFiles: plan.files.length,
        archiveEndLsn: chain.endLsn,
        archiveGapAt: chain.gapAt,
        recordsFrom: plan.recordsFrom,
        ledger: ledgerOutcome,
        recovery: null,
      };
      if (options.start) {
        const connection = policy.resource.connection;
        // To the latest moment, recovery must have asked for (and got) the newest archived segment: a
        // restore_command that failed before it could say anything looks to PostgreSQL like "no more
        // WAL", and it would promote at the base backup's end.
        const newest = options.target.kind === 'latest' ? (newestArchived ?? chain.lastSegment) : null;
        const refused = (ledgerOutcome?.refused ?? []).map((r) => r.name);
        result.recovery = await this.recover(dataDir, options.start.port, connection, base.dataDirectory?.basebackup?.pgVersion ?? null, started, base.dataDirectory?.phases ?? null, {
          mustServe: newest,
          refusedByLedger: refused,
          targetSet: options.target.kind !== 'latest',
        });
      }
      return result;
    } finally {
      await prefetch.fetcher?.stop();
    }
  }

  private plan(options: PointInTimeOptions, copies: { name: string; location: BackupConfig['locations'] extends Map<string, infer L> ? L : never }[], backup: BaseBackupCandidate, files: ArchivedWal[], keyFile: string | null, ledger: string | null): RestorePlan {
    const kindOf = (name: string) => this.deps.location(name)?.kind ?? null;
    return {
      format: RESTORE_PLAN_FORMAT,
      resource: options.resource,
      backupId: backup.backupId,
      target: { kind: options.target.kind, value: targetValue(options.target) },
      recordsFrom: ledger
        ? `the WAL manifests of the copies, each file checked against the WalArchived events of the audit ledger at ${ledger}`
        : 'the WAL manifests of the copies (the version most copies hold)',
      encryption: keyFile ? { keyFile } : null,
      locations: copies.map(({ name, location }) =>
        location.kind === 'filesystem'
          ? { name, kind: 'filesystem' as const, path: location.path }
          : { name, kind: 'object-store' as const, bucket: location.bucket, natsUrl: withoutCredentials(location.natsUrl ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222') },
      ),
      nats: this.natsFiles(copies.some((c) => c.location.kind === 'object-store')),
      files: files.map((f) => {
        const { ordered } = orderCopies(
          f.copies.map((c) => ({ ...c, uri: c.location })),
          kindOf,
        );
        return {
          name: f.name,
          ...(f.object ? { object: f.object } : {}),
          timeline: f.timeline,
          startLsn: f.startLsn,
          endLsn: f.endLsn,
          partial: f.partial,
          plaintextSha256: f.plaintextSha256,
          plaintextSizeBytes: f.plaintextSizeBytes,
          copies: ordered.map(({ location, sha256, sizeBytes }) => ({ location, sha256, sizeBytes })),
        };
      }).filter((f) => f.copies.length > 0),
    };
  }

  /** Where the NATS credential files are (absolute paths, never their content), when a copy is in an object store. */
  private natsFiles(objectStores: boolean): RestorePlan['nats'] {
    const given = Object.entries(this.deps.natsAuthFiles ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string' && e[1].length > 0);
    if (!objectStores || !given.length) return null;
    return Object.fromEntries(given.map(([variable, path]) => [variable, resolve(path)]));
  }

  /** The plan (0600, the server's user), the recovery settings and `recovery.signal`. */
  private async writeRecoveryFiles(dataDir: string, plan: RestorePlan, options: PointInTimeOptions, prefetching: boolean) {
    const walFetch = (this.deps.walFetchCommand ?? defaultWalFetch()).map(shellWord).join(' ');
    const command = prefetching ? prefetchingRestoreCommand(walFetch) : `${walFetch} %f %p`;
    const planPath = join(dataDir, RESTORE_PLAN_FILE);
    await writeFile(planPath, `${JSON.stringify(plan, null, 1)}\n`, { mode: 0o600, flag: 'wx' });
    await appendFile(join(dataDir, 'postgresql.auto.conf'), recoverySettings({ restoreCommand: command, target: options.target, port: options.start?.port ?? null }));
    await writeFile(join(dataDir, 'recovery.signal'), '', { mode: 0o600 });
    if (asRoot()) {
      const [uid, gid] = [idOf('-u'), idOf('-g')];
      for (const file of [planPath, join(dataDir, 'recovery.signal'), join(dataDir, 'postgresql.auto.conf')]) await chown(file, uid, gid);
    }
  }

  /**
   * Starts the server and follows recovery until it has promoted (or stopped), then asks how far
   * replay got and reads wal-fetch's log: which copy served each file, which were refused, and
   * whether a file of the plan could not be fetched at all.
   */
  private async recover(
    dataDir: string,
    port: number,
    connection: string,
    pgVersion: string | null,
    started: number,
    basePhases: { stageMs: number; verifyMs: number } | null,
    expect: {
      /** The file a restore to the latest moment must have replayed. */
      mustServe: string | null;
      refusedByLedger: string[];
      /**
       * A recovery target was set: a server that promoted reached it (PostgreSQL 13+ stops with
       * FATAL when WAL ends before its target), and a file it failed to fetch after that was read
       * ahead (recovery_prefetch) or was a superseded partial version removed after its grace
       * period (decision 0045): not a stop.
       */
      targetSet: boolean;
    },
  ): Promise<RecoveryOutcome> {
    const { mustServe, refusedByLedger } = expect;
    const bin = pgServerBin(pgVersion);
    const logFile = join(dataDir, 'continuity-restore-start.log');
    let startError: Error | null = null;
    const startBegan = Date.now();
    // -w returns once the server accepts connections: during archive recovery (hot standby), or after promotion.
    await runServerTool(bin, 'pg_ctl', firstStartArgs(dataDir, logFile, pgVersion), { asPostgres: true, timeoutMs: 3_700_000 }).catch((error: Error) => (startError = error));
    let promoted = false;
    let reachedLsn: string | null = null;
    let reachedTime: string | null = null;
    const recoveryBegan = Date.now();
    if (!startError) {
      const client = new Client(restoredConnection(connection, port));
      client.on('error', () => undefined);
      try {
        await client.connect();
        for (;;) {
          const { rows } = await client.query<{ rec: boolean; lsn: string | null; ts: Date | null }>(
            'SELECT pg_is_in_recovery() AS rec, pg_last_wal_replay_lsn()::text AS lsn, pg_last_xact_replay_timestamp() AS ts',
          );
          reachedLsn = rows[0]!.lsn;
          reachedTime = rows[0]!.ts ? rows[0]!.ts.toISOString() : null;
          if (!rows[0]!.rec) {
            promoted = true;
            break;
          }
          await sleep(RECOVERY_POLL_MS);
        }
      } catch (error) {
        startError = error as Error; // the server stopped during recovery (e.g. its target was not reached)
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    const recoveryEnded = Date.now();
    const fetched = await readFetchLog(join(dataDir, WAL_FETCH_LOG));
    const log = await readFile(logFile, 'utf8').catch(() => '');
    if (!promoted) {
      // Stopped before promoting: what the server's log says it replayed.
      reachedLsn ??= /redo done at ([0-9A-F]+\/[0-9A-F]+)/i.exec(log)?.[1] ?? null;
      reachedTime ??= /last completed transaction was at log time (.+)$/m.exec(log)?.[1]?.trim() ?? null;
    }
    const servedBy: Record<string, number> = {};
    const refused: RecoveryOutcome['refused'] = [];
    const served = new Set<string>();
    let stoppedAt: RecoveryOutcome['stoppedAt'] = null;
    for (const entry of fetched) {
      if (entry.outcome === 'absent') continue;
      for (const r of entry.refused) refused.push({ name: entry.name, location: r.location, error: r.error });
      if (entry.outcome === 'fetched') {
        if (!served.has(entry.name)) servedBy[entry.copy] = (servedBy[entry.copy] ?? 0) + 1;
        served.add(entry.name);
      } else if (!(promoted && expect.targetSet)) stoppedAt ??= { name: entry.name, reasons: entry.refused.map((r) => `${r.location}: ${r.error}`) };
    }
    const outcome: RecoveryOutcome = {
      promoted,
      reachedLsn,
      reachedTime,
      walFilesReplayed: served.size,
      servedBy,
      refused,
      stoppedAt,
      durationMs: recoveryEnded - started,
      phases: recoveryPhases(recoveryEnded - started, basePhases, recoveryBegan - startBegan, recoveryEnded - recoveryBegan),
      logFile,
    };
    const short = promoted && !stoppedAt && mustServe !== null && !served.has(mustServe);
    if (stoppedAt || !promoted || short) {
      const shortWhy = refusedByLedger.length
        ? `the newest archived WAL file ${mustServe} was not replayed: the ledger check refused ${refusedByLedger.join(', ')}`
        : `the newest archived WAL file ${mustServe} was never fetched (wal-fetch served ${served.size} file(s); see ${WAL_FETCH_LOG} and the server log)`;
      const why = stoppedAt
        ? `WAL file ${stoppedAt.name} could not be fetched from any copy (${stoppedAt.reasons.join('; ')})`
        : short
          ? shortWhy
          : `the restored server stopped during recovery: ${lastLines(log) || (startError as Error | null)?.message || 'no message'}`;
      throw new RestoreError(
        'RESTORE.RECOVERY_INCOMPLETE',
        `${why}: recovery stopped at LSN ${reachedLsn ?? 'unknown'}${reachedTime ? ` (last transaction ${reachedTime})` : ''}${promoted ? '; the server was promoted there and runs on port ' + port : ''} (see ${logFile})`,
        { details: { recovery: outcome } },
      );
    }
    return outcome;
  }
}

/** How often recovery is asked whether it has promoted: a poll costs a query; waiting for the next one costs up to this much RTO. */
const RECOVERY_POLL_MS = 50;

/** NATS server URLs without user or password: the plan holds no secret. */
const withoutCredentials = (urls: string) =>
  urls
    .split(',')
    .map((u) => {
      try {
        const url = new URL(u.trim());
        url.username = '';
        url.password = '';
        return url.toString().replace(/\/$/, '');
      } catch {
        return u.trim().replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1');
      }
    })
    .join(',');

const lastLines = (log: string) =>
  log
    .split('\n')
    .filter((l) => /FATAL|PANIC|ERROR|invalid value/.test(l))
    .slice(-3)
    .join(' | ');

const readFetchLog = async (path: string): Promise<WalFetchOutcome[]> => {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as WalFetchOutcome];
      } catch {
        return [];
      }
    });
};
