import { BackupAlreadyRunningError, UnknownResourceError } from '../../backup-run/backup-run.errors.js';
import type { BackupRunner } from '../../backup-run/backup-runner.js';
import { CliError, err, out } from '../cli.output.js';
import { withContext } from '../cli.context.js';
import { formatBytes, table } from '../format.js';
import { progressBar } from '../progress-bar.js';

export interface BackupCommandOptions {
  config?: string;
  json?: boolean;
  progress?: boolean;
}

/**
 * `continuity backup <resource>`: one backup now, following the resource's policy, with its
 * retention after it. The catalogue's unique index still allows only one backup per resource at a
 * time, whether started here or by the service (exit 3 when another one runs).
 */
export const backupCommand = async (resource: string, options: BackupCommandOptions) =>
  withContext(options, async (ctx) => {
    const showBar = options.progress !== false && process.stderr.isTTY && !options.json;
    const bar = progressBar(resource);
    let barStarted = false;
    let started: Awaited<ReturnType<BackupRunner['start']>>;
    try {
      started = await ctx.runner.start(resource, {
        trigger: 'cli',
        onProgress: (p) => {
          if (!showBar) return;
          const total = Math.max(p.bytesExpected ?? 0, p.bytesDone, 1);
          if (!barStarted) {
            bar.start(total, p.bytesDone, { done: formatBytes(p.bytesDone), expected: formatBytes(p.bytesExpected) });
            barStarted = true;
          }
          bar.setTotal(total);
          bar.update(p.bytesDone, { done: formatBytes(p.bytesDone), expected: formatBytes(p.bytesExpected) });
        },
      });
    } catch (error) {
      if (error instanceof UnknownResourceError) throw new CliError(error.message, 2);
      if (error instanceof BackupAlreadyRunningError) throw new CliError(error.message, 3);
      throw error;
    }
    if (!options.json) err(`backup ${started.backupId} of ${resource} started`);
    const outcome = await started.done;
    if (barStarted) {
      if (outcome.state === 'created') bar.update(bar.getTotal());
      bar.stop();
    }
    const record = await ctx.catalogue.get(outcome.backupId);
    if (options.json) {
      out(JSON.stringify(outcome.state === 'created' ? { ...record, event: outcome.event.id } : { backupId: outcome.backupId, state: 'failed', stage: outcome.stage, reason: outcome.reason }));
    } else if (outcome.state === 'created') {
      out(`backup ${outcome.backupId} of ${resource} created`);
      out(`  size     ${formatBytes(outcome.sizeBytes)} (${outcome.sizeBytes} bytes${record?.encryption ? ', encrypted with age' : ''})`);
      out(`  sha256   ${outcome.sha256}`);
      out(`  copies   ${outcome.copies.length}`);
      out(table(outcome.copies.map((c) => [`    ${c.location}`, c.uri])));
      if (record && !record.threeTwoOne.compliant) out(`  3-2-1    not met (${record.threeTwoOne.failedRules.join(', ')}); policy opts out: ${record.threeTwoOne.optOut}`);
    }
    if (outcome.state === 'failed') throw new CliError(`backup ${outcome.backupId} of ${resource} failed at ${outcome.stage}: ${outcome.reason}`);
  });
