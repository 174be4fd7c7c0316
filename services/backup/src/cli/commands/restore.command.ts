import { userInfo } from 'node:os';
import { policyForResource } from '../../config/backup-config.loader.js';
import { RestoreError, RestoreTargetNotAllowedError } from '../../restore/restore.errors.js';
import { KeyFileError, loadAgeKey } from '@continuity/artifacts';
import { CliError, err, out } from '../cli.output.js';
import { withContext } from '../cli.context.js';
import { formatBytes, formatPhases } from '../format.js';
import { progressBar } from '../progress-bar.js';
import { isPointInTime, type RecoveryTargetInput } from '../../restore/recovery-target.js';
import { restorePitrCommand } from './restore-pitr.command.js';

export interface RestoreCommandOptions {
  to?: string;
  /** A base backup's target: a new or empty data directory. */
  toDataDir?: string;
  /** With `toDataDir`: start the restored server on `port`. */
  start?: boolean;
  port?: string;
  key?: string;
  clean?: boolean;
  /** Restore to a target outside the resource's restoreTargets (recorded in RestorePerformed). */
  allowAnyTarget?: boolean;
  config?: string;
  progress?: boolean;
}

/** The age identities in `--key`; a file of recipients only cannot decrypt (exit 2). */
const identitiesIn = async (keyFile: string | undefined): Promise<string[]> => {
  if (!keyFile) return [];
  let identities: string[];
  try {
    identities = (await loadAgeKey(keyFile)).identities;
  } catch (error) {
    if (error instanceof KeyFileError) throw new CliError(error.message, 2);
    throw error;
  }
  if (!identities.length) throw new CliError(`${keyFile} holds only recipients (age1…): restoring needs the secret key (AGE-SECRET-KEY-1…)`, 2);
  return identities;
};

/** Where the restore goes: `--to`, or a base backup's `--to-data-dir` (and `--start --port`); usage errors exit 2. */
const targetOf = (options: RestoreCommandOptions): { to: string; start: { port: number } | null } => {
  if ((options.to === undefined) === (options.toDataDir === undefined)) throw new CliError('give one target: --to <directory | postgres://…>, or --to-data-dir <dir> for a base backup', 2);
  if (options.toDataDir === undefined) {
    if (options.start || options.port) throw new CliError('--start and --port go with --to-data-dir (a base backup)', 2);
    return { to: options.to!, start: null };
  }
  if (!options.start) {
    if (options.port) throw new CliError('--port goes with --start', 2);
    return { to: options.toDataDir, start: null };
  }
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CliError('--start needs --port <1-65535>: the restored server must not take the original\'s port', 2);
  return { to: options.toDataDir, start: { port } };
};

/** The operator running the CLI, for RestorePerformed; null when the OS cannot say. */
const operatorName = (): string | null => {
  try {
    return userInfo().username;
  } catch {
    return null;
  }
};

/** Exit code of a restore refused because its target is not among the resource's restoreTargets. */
export const TARGET_NOT_ALLOWED_EXIT = 4;

/**
 * `continuity restore <backupId> --to <target>`: from the first healthy copy, checked against its
 * SHA-256, into a target among the resource's restoreTargets (or anywhere with
 * `--allow-any-target`). The key is `--key` (for a disaster, when the operator holds the file) or
 * the resource's policy key.
 */
export const restoreCommand = async (backupId: string, options: RestoreCommandOptions & RecoveryTargetInput & { json?: boolean; fromCopies?: boolean; ledger?: string; ledgerKey?: string[] }) => {
  if (isPointInTime(options)) return restorePitrCommand(backupId, options);
  if (options.fromCopies || options.ledger !== undefined || options.ledgerKey?.length) throw new CliError('--from-copies, --ledger and --ledger-key go with a point-in-time target (--at | --lsn | --name | --latest)', 2);
  return restoreBackupCommand(backupId, options);
};

const restoreBackupCommand = async (backupId: string, options: RestoreCommandOptions) =>
  withContext(options, async (ctx) => {
    const { to, start } = targetOf(options);
    const record = await ctx.catalogue.get(backupId);
    if (record && (record.method === 'basebackup') !== (options.toDataDir !== undefined)) {
      throw new CliError(
        record.method === 'basebackup'
          ? `backup ${backupId} is a base backup: restore it with --to-data-dir <new or empty directory> [--start --port N]`
          : `backup ${backupId} is a ${record.method} backup: restore it with --to (--to-data-dir is for base backups)`,
        2,
      );
    }
    const identities = options.key ? await identitiesIn(options.key) : record ? (policyForResource(ctx.config, record.resource)?.encryption?.identities ?? []) : [];
    const bar = progressBar('restore');
    let barStarted = false;
    const showBar = options.progress !== false && process.stderr.isTTY;
    try {
      const result = await ctx.restore.restore({
        backupId,
        to,
        start,
        requestedBy: { via: 'cli', operator: operatorName() },
        anyTarget: options.allowAnyTarget,
        identities,
        clean: options.clean,
        onProgress: (done, total) => {
          if (!showBar) return;
          if (!barStarted) {
            bar.start(Math.max(total, 1), done, { done: formatBytes(done), expected: formatBytes(total) });
            barStarted = true;
          }
          bar.update(done, { done: formatBytes(done), expected: formatBytes(total) });
        },
        onNotice: (message) => {
          if (barStarted) {
            bar.stop();
            barStarted = false;
          }
          err(`warning: ${message}`);
        },
      });
      if (barStarted) bar.stop();
      out(`restored backup ${result.backupId} of ${result.resource} into ${result.target}`);
      out(`  from copy ${result.copy.location} (${result.copy.uri}), SHA-256 verified, ${formatBytes(result.bytes)} in ${(result.durationMs / 1000).toFixed(1)} s`);
      const data = result.dataDirectory;
      if (data) {
        out(`  pg_verifybackup: ${data.verified}`);
        if (data.basebackup) out(`  WAL ${data.basebackup.startLsn} to ${data.basebackup.endLsn} on timeline ${data.basebackup.timeline} (PostgreSQL ${data.basebackup.pgVersion})`);
        if (data.server) {
          out(`  started on port ${data.server.port} in ${(data.server.startMs / 1000).toFixed(1)} s: answers queries (select 1), WAL at ${data.server.lsn}${data.server.replayLsn ? `, replayed to ${data.server.replayLsn}` : ''}`);
          out(`  time taken (data recovery): ${(result.durationMs / 1000).toFixed(1)} s (${formatPhases({ ...data.phases, startMs: data.server.startMs })})`);
        }
      }
      const refused = result.attempts.filter((a) => !a.ok);
      if (refused.length) out(`  refused  ${refused.map((a) => `${a.location}: ${a.error}`).join('; ')}`);
    } catch (error) {
      if (barStarted) bar.stop();
      if (error instanceof RestoreTargetNotAllowedError) {
        throw new CliError(`${error.message} [${error.code}] (add the target to the resource's restoreTargets, or pass --allow-any-target to restore there on your own authority)`, TARGET_NOT_ALLOWED_EXIT);
      }
      if (error instanceof RestoreError) throw new CliError(`${error.message} [${error.code}]`);
      throw error;
    }
  });
