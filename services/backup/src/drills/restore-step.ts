import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifest } from '@continuity/artifacts';
import { redactSecrets } from '@continuity/runtime/standalone';
import type { Catalogue } from '../catalogue/catalogue.js';
import type { ResolvedDrill } from '../config/backup-config.loader.js';
import type { RestoreService } from '../restore/restore.service.js';
import type { BackupLocation } from '../backup-run/locations/location.js';
import type { MeasuredStep } from './drill.decider.js';
import { checkScratchDatabase, checkScratchDirectory } from './scratch-checks.js';
import { ScratchTarget, scratchTargetFor } from './scratch-target.js';

export interface RestoreStepDeps {
  catalogue: Pick<Catalogue, 'list'>;
  restore: Pick<RestoreService, 'restore'>;
  location: (name: string) => BackupLocation | null;
  /** age identities of the resource's policy key, for an encrypted backup. */
  identities: (resource: string) => string[];
}

export interface RestoreStepResult extends MeasuredStep {
  backupId: string | null;
  recoveryPoint: string | null;
  scratchTarget: string | null;
  /** Null when no scratch target was made. */
  scratchRemoved: boolean | null;
}

class StepTimeout extends Error {}

/** Where a drill's restore stages its dump (removed at the end of the step). */
export const drillStagingDir = (drillId: string) => join(tmpdir(), `continuity-drill-${drillId}`);

/**
 * The restore step of a drill: the newest recovery point restored into a scratch target made for
 * this drill, checked (row counts / assertions, or the file index), then the target dropped —
 * always, also when the restore or a check failed or the step timed out (then after the restore
 * has stopped, so nothing it writes later is left behind). RTO: first byte read to data checked.
 * RPO: how old the restored recovery point was when the drill began.
 */
export const runRestoreStep = async (
  deps: RestoreStepDeps,
  drill: ResolvedDrill,
  ctx: { drillId: string; drillStartedAt: Date; requestedBy: string | null; onScratch?: (to: string) => Promise<void> },
): Promise<RestoreStepResult> => {
  const startedAt = new Date();
  const base = { step: 'restore' as const, startedAt, checks: [] as MeasuredStep['checks'] };
  const failed = (error: string, extra: Partial<RestoreStepResult> = {}): RestoreStepResult => ({
    ...base,
    finishedAt: new Date(),
    rtoMs: null,
    rpoMs: null,
    error: redactSecrets(error),
    backupId: null,
    recoveryPoint: null,
    scratchTarget: null,
    scratchRemoved: null,
    ...extra,
  });
  const [newest] = await deps.catalogue.list({ resource: drill.resourceName, states: ['created'], limit: 1 });
  if (!newest) return failed(`${drill.resourceName} has no recovery point to restore (no created backup in the catalogue)`);
  if (newest.method === 'basebackup') return failed(`the newest recovery point of ${drill.resourceName} is a base backup: drills restore pg_dump and directory backups (restore base backups with the CLI)`);
  const rpoMs = Math.max(0, ctx.drillStartedAt.getTime() - Date.parse(newest.recoveryPoint));
  const known = { backupId: newest.backupId, recoveryPoint: newest.recoveryPoint, rpoMs };
  const scratch: ScratchTarget = scratchTargetFor(drill.scratch, ctx.drillId);
  // The dump is staged in a folder of this drill's own, removed with the scratch target.
  const staging = drillStagingDir(ctx.drillId);

  const work = (async () => {
    await ctx.onScratch?.(scratch.to);
    await mkdir(staging, { recursive: true, mode: 0o700 });
    const restored = await deps.restore.restore({
      stagingDir: staging,
      backupId: newest.backupId,
      to: scratch.to,
      requestedBy: { via: 'http', operator: ctx.requestedBy ? `drill ${ctx.drillId} (${ctx.requestedBy})` : `drill ${ctx.drillId}` },
      identities: deps.identities(drill.resourceName),
    });
    const location = deps.location(restored.copy.location);
    const manifestBytes = await location?.readManifest({ resource: newest.resource, backupId: newest.backupId, extension: newest.artifactExtension }).catch(() => null);
    const manifest = manifestBytes ? parseManifest(manifestBytes) : null;
    const checks =
      scratch.kind === 'postgres'
        ? await checkScratchDatabase(scratch.to, manifest?.tables ?? null, drill.assertions, drill.stepTimeoutMs)
        : await checkScratchDirectory(scratch.to, manifest?.files ?? null);
    return { checks };
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StepTimeout(`restore step timed out after ${(drill.stepTimeoutMs / 1000).toFixed(1)} s (stepTimeoutMs)`)), drill.stepTimeoutMs);
  });
  let outcome: { checks: MeasuredStep['checks'] } | { error: string };
  try {
    outcome = await Promise.race([work, timeout]);
  } catch (error) {
    outcome = { error: (error as Error).message };
  } finally {
    clearTimeout(timer);
  }
  const finishedAt = new Date();
  // The restore may still be running after a timeout: drop the target once it has stopped.
  await work.catch(() => undefined);
  const scratchRemoved = await scratch.remove();
  await rm(staging, { recursive: true, force: true });
  const where = { scratchTarget: scratch.redacted, scratchRemoved };
  if ('error' in outcome) return { ...failed(outcome.error, { ...known, ...where }), finishedAt, rpoMs };
  return { ...base, finishedAt, rtoMs: finishedAt.getTime() - startedAt.getTime(), error: null, checks: outcome.checks, ...known, ...where };
};
