import { userInfo } from 'node:os';
import { policyForResource } from '../../config/backup-config.loader.js';
import { PointInTimeRestore, type PointInTimeResult, type RecoveryOutcome } from '../../restore/point-in-time.restore.js';
import { readFileSync } from 'node:fs';
import { keyIdOfPem, pemBlocks } from '@continuity/contracts/ledger';
import { ledgerBaseUrl, readLedgerWal } from '../../restore/ledger-wal.js';
import { parseRecoveryTarget, type RecoveryTargetInput } from '../../restore/recovery-target.js';
import { RestoreError, RestoreTargetNotAllowedError } from '../../restore/restore.errors.js';
import { CliError, err, out } from '../cli.output.js';
import { withRestoreSources } from '../restore-sources.js';
import { formatBytes, formatPhases } from '../format.js';

export interface PitrCommandOptions extends RecoveryTargetInput {
  toDataDir?: string;
  to?: string;
  start?: boolean;
  port?: string;
  key?: string;
  clean?: boolean;
  allowAnyTarget?: boolean;
  config?: string;
  json?: boolean;
  /** List base backups and WAL from the copies' manifests, not the catalogue database. */
  fromCopies?: boolean;
  /** The audit service whose ledger every WAL file is checked against (token: CONTINUITY_AUDIT_TOKEN). */
  ledger?: string;
  /** PEM file(s) of the ledger's public key(s), pinned: the ledger's answer is then verified (signed head + inclusion proofs). */
  ledgerKey?: string[];
}

/** The public keys of a --ledger-key file (one file may hold several PEM blocks); a file holding none is a usage error. */
const readPinnedKeys = (file: string): string[] => {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`--ledger-key ${file} cannot be read: ${(error as Error).message}`, 2);
  }
  const keys = pemBlocks(text).filter((pem) => keyIdOfPem(pem) !== null);
  if (!keys.length) throw new CliError(`--ledger-key ${file} holds no public key in PEM (-----BEGIN PUBLIC KEY-----, as GET /audit/public-key gives it)`, 2);
  return keys;
};

const operatorName = (): string | null => {
  try {
    return userInfo().username;
  } catch {
    return null;
  }
};

const printRecovery = (recovery: RecoveryOutcome) => {
  out(`  recovery: ${recovery.promoted ? 'promoted' : 'stopped'} at LSN ${recovery.reachedLsn ?? 'unknown'}, last transaction replayed ${recovery.reachedTime ?? 'none'}`);
  const served = Object.entries(recovery.servedBy).map(([location, n]) => `${n} from ${location}`);
  out(`  WAL files replayed from the archive: ${recovery.walFilesReplayed}${served.length ? ` (${served.join(', ')})` : ''}`);
  for (const r of recovery.refused) out(`  refused copy ${r.location} of ${r.name}: ${r.error}`);
  out(`  time taken (data recovery): ${(recovery.durationMs / 1000).toFixed(1)} s (${formatPhases(recovery.phases)})`);
};

/**
 * `continuity restore <resource> --at <time> | --lsn <LSN> | --name <point> | --latest
 * --to-data-dir <dir> [--start --port N]`: point-in-time restore from the newest base backup
 * before the target and the WAL archive, with no running service needed (the catalogue and the
 * copies are read directly). Exit 1 when recovery stopped short of the target (a WAL file no
 * copy could give back), saying where it stopped.
 */
export const restorePitrCommand = async (resource: string, options: PitrCommandOptions) => {
  if (options.to !== undefined || options.clean) throw new CliError('a point-in-time restore goes into a new or empty data directory: --to-data-dir <dir> (not --to, no --clean)', 2);
  if (!options.toDataDir) throw new CliError('a point-in-time restore needs --to-data-dir <new or empty directory>', 2);
  let port: number | null = null;
  if (options.start) {
    port = Number(options.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CliError("--start needs --port <1-65535>: the restored server must not take the original's port", 2);
  } else if (options.port) throw new CliError('--port goes with --start', 2);
  let target;
  try {
    target = parseRecoveryTarget(options, new Date());
  } catch (error) {
    throw new CliError((error as Error).message, 2);
  }
  let ledger: { url: URL; token: string; pinnedKeys: string[] } | null = null;
  if (options.ledgerKey?.length && options.ledger === undefined) throw new CliError('--ledger-key goes with --ledger <audit url>', 2);
  if (options.ledger !== undefined) {
    const pinnedKeys = (options.ledgerKey ?? []).flatMap(readPinnedKeys);
    const token = process.env.CONTINUITY_AUDIT_TOKEN?.trim();
    delete process.env.CONTINUITY_AUDIT_TOKEN; // read once: no child of the restore inherits it
    if (!token) throw new CliError('--ledger needs a viewer or auditor token of the audit service in CONTINUITY_AUDIT_TOKEN (never on the command line)', 2);
    try {
      ledger = { url: ledgerBaseUrl(options.ledger), token, pinnedKeys };
    } catch (error) {
      throw new CliError((error as Error).message, 2);
    }
  }
  const notice = (message: string) => err(`warning: ${message}`);
  return withRestoreSources(options, resource, notice, async (ctx) => {
    if (ctx.fromCopies) err(`base backups and WAL are listed from the copies' manifests (the locations in the configuration file), not the catalogue: ${ctx.fromCopies}`);
    const policy = policyForResource(ctx.config, resource);
    const keyFile = options.key ?? policy?.encryption?.file ?? null;
    let identities: string[] = [];
    if (options.key) {
      const { loadAgeKey } = await import('@continuity/artifacts');
      identities = await loadAgeKey(options.key).then(
        (k) => k.identities,
        (error: Error) => Promise.reject(new CliError(error.message, 2)),
      );
    } else identities = policy?.encryption?.identities ?? [];
    const pitr = new PointInTimeRestore({
      catalogue: ctx.catalogue,
      restore: ctx.restore,
      config: ctx.config,
      location: ctx.location,
      natsAuthFiles: ctx.natsAuthFiles,
    });
    let result: PointInTimeResult;
    try {
      result = await pitr.run({
        resource,
        target,
        toDataDir: options.toDataDir!,
        start: port === null ? null : { port },
        requestedBy: { via: 'cli', operator: operatorName() },
        anyTarget: options.allowAnyTarget,
        identities,
        keyFile: identities.length ? keyFile : null,
        onNotice: notice,
        ledger: ledger ? { read: () => readLedgerWal({ url: ledger!.url, token: ledger!.token, pinnedKeys: ledger!.pinnedKeys, resource }) } : null,
      });
    } catch (error) {
      if (error instanceof RestoreTargetNotAllowedError) {
        throw new CliError(`${error.message} [${error.code}] (add the target to the resource's restoreTargets, or pass --allow-any-target)`, 4);
      }
      if (error instanceof RestoreError) {
        const recovery = (error.details as { recovery?: RecoveryOutcome }).recovery;
        if (recovery) printRecovery(recovery);
        throw new CliError(`${error.message} [${error.code}]`);
      }
      throw error;
    }
    const base = result.base;
    out(`restored ${resource} to ${result.target} into ${base.target}`);
    if (ctx.fromCopies) out(`  base backups listed from the copies' manifests (the catalogue was not used: ${ctx.fromCopies})`);
    out(`  base backup ${result.backup.backupId} (finished ${result.backup.finishedAt}, WAL ${result.backup.startLsn} to ${result.backup.endLsn}) from copy ${base.copy.location}, SHA-256 verified, ${formatBytes(base.bytes)}`);
    for (const a of base.attempts.filter((x) => !x.ok)) out(`  refused base backup copy ${a.location}: ${a.error}`);
    out(`  restore plan: ${result.walFiles} WAL file(s) archived up to ${result.archiveEndLsn}${result.archiveGapAt ? ` (hole at ${result.archiveGapAt})` : ''}; records from ${result.recordsFrom}`);
    if (result.ledger) {
      const l = result.ledger;
      out(`  WAL checked against the audit ledger at ${l.source}: ${l.events} WalArchived event(s), ${l.checked} file(s) as recorded, ${l.refused.length} refused${l.untrusted ? `, ${l.untrusted} ledger entries not trusted (skipped)` : ''}`);
      out(
        l.verified
          ? `  the ledger's answer verified: tree head ${l.verified.treeSize} (${l.verified.timestamp}) signed by key ${l.verified.keyId.slice(0, 16)}… (pinned, or attested by a pinned key), ${l.verified.entriesProven} event(s) proven included in it`
          : "  the ledger's answer was NOT verified (no --ledger-key): its events were taken as the audit service gave them",
      );
      out(`  base backup ${l.baseBackup.backupId} as its BackupCreated in the ledger recorded it (SHA-256 ${l.baseBackup.sha256})${l.baseBackupsRefused.length ? `; ${l.baseBackupsRefused.length} newer or other base backup(s) refused` : ''}`);
      for (const r of l.refused) out(`  refused WAL file ${r.name}: ${r.reason}`);
    }
    if (result.recovery) printRecovery(result.recovery);
    else out(`  not started: start it with pg_ctl -D ${base.target} start (as the postgres user); it replays the WAL from the archive through continuity wal-fetch and promotes at the target`);
    if (options.json) out(JSON.stringify({ backupId: result.backup.backupId, walFiles: result.walFiles, baseBackupsFrom: ctx.fromCopies ? 'copies' : 'catalogue', ledger: result.ledger, recovery: result.recovery }));
  });
};
