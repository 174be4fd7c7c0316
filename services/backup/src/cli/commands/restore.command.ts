import { RestoreError } from '../../restore/restore.errors.js';
import { KeyFileError, loadAgeKey } from '@continuity/artifacts';
import { CliError, err, out, withContext } from '../cli.context.js';
import { formatBytes } from '../format.js';
import { progressBar } from '../progress-bar.js';

export interface RestoreCommandOptions {
  to: string;
  key?: string;
  clean?: boolean;
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

/** `continuity restore <backupId> --to <target>`: from the first healthy copy, checked against its SHA-256. */
export const restoreCommand = async (backupId: string, options: RestoreCommandOptions) =>
  withContext(options, async (ctx) => {
    const identities = await identitiesIn(options.key);
    const bar = progressBar('restore');
    let barStarted = false;
    const showBar = options.progress !== false && process.stderr.isTTY;
    try {
      const result = await ctx.restore.restore({
        backupId,
        to: options.to,
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
      const refused = result.attempts.filter((a) => !a.ok);
      if (refused.length) out(`  refused  ${refused.map((a) => `${a.location}: ${a.error}`).join('; ')}`);
    } catch (error) {
      if (barStarted) bar.stop();
      if (error instanceof RestoreError) throw new CliError(`${error.message} [${error.code}]`);
      throw error;
    }
  });
