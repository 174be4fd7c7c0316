import { lstat } from 'node:fs/promises';
import { v7 as uuidv7 } from 'uuid';
import type { Catalogue } from '../catalogue/catalogue.js';
import { BackupConfig, policyForResource } from '../config/backup-config.loader.js';
import { RestoreError, RestoreNotFoundError } from './restore.errors.js';
import type { RestoreRequester, RestoreResult, RestoreService } from './restore.service.js';
import type { BackupLocation } from '../backup-run/locations/location.js';
import { PointInTimeRestore, type PointInTimeResult } from './point-in-time.restore.js';
import { parseRecoveryTarget, type RecoveryTargetInput } from './recovery-target.js';

/**
 * A point-in-time restore asked for over HTTP: into a data directory among the resource's
 * restoreTargets on the service's host, with the policy's key (never a key file the caller names).
 */
export interface PointInTimeRequest extends RecoveryTargetInput {
  toDataDir: string;
  start?: { port: number };
}

/**
 * A restore asked for over HTTP. No key file: the key is the resource's policy key
 * (`encryption.keyFile`), so a caller cannot make the service read a file of its choosing.
 */
export interface RestoreRequest {
  /** A directory path or a postgres:// URL, among the resource's restoreTargets. */
  to: string;
  /** Required to restore over a non-empty target. */
  clean?: boolean;
}

export interface RestoreJob {
  restoreId: string;
  /** Null for a point-in-time restore until its base backup is chosen (then in `result`). */
  backupId: string | null;
  /** The target, its password masked. */
  to: string;
  state: 'running' | 'restored' | 'failed';
  bytesDone: number;
  bytesTotal: number | null;
  notices: string[];
  result: RestoreResult | PointInTimeResult | null;
  error: { code: string; message: string } | null;
  startedAt: string;
  finishedAt: string | null;
}

export interface RestoreJobsDeps {
  restore: Pick<RestoreService, 'restore' | 'authorize'>;
  catalogue: Pick<Catalogue, 'getOrNotFound' | 'list'>;
  config: BackupConfig;
  /** The configured copy locations (point-in-time restores read base backups' and WAL manifests). */
  location?: (name: string) => BackupLocation | null;
  now?: () => Date;
}

/**
 * Restores started over HTTP, run in the background and followed by id. Jobs are kept in memory
 * (a restart forgets them; the restored data and the service log remain): a restore is an
 * operator's action, watched while it runs, not a record to keep.
 */
export class RestoreJobs {
  private readonly jobs = new Map<string, RestoreJob>();
  private readonly now: () => Date;

  constructor(private readonly deps: RestoreJobsDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Checks the backup and that the target is allowed (403 `RESTORE.TARGET_NOT_ALLOWED` otherwise,
   * before anything is read or written), then starts the restore and returns its job at once.
   */
  async start(backupId: string, request: RestoreRequest, requestedBy: RestoreRequester = { via: 'http', operator: null }): Promise<RestoreJob> {
    const record = await this.deps.catalogue.getOrNotFound(backupId);
    if (record.method === 'basebackup') {
      // Restoring a cluster's files and starting a server is an operator's act on the target host, not a remote call (yet).
      throw new RestoreError('RESTORE.BASEBACKUP_CLI_ONLY', `backup ${backupId} is a base backup: restore it with the CLI on the target host (continuity restore ${backupId} --to-data-dir <empty directory> [--start --port N])`, { status: 400 });
    }
    const allowed = await this.deps.restore.authorize(record, request.to);
    const identities = policyForResource(this.deps.config, record.resource)?.encryption?.identities ?? [];
    const job: RestoreJob = {
      restoreId: uuidv7(),
      backupId,
      to: allowed.redacted,
      state: 'running',
      bytesDone: 0,
      bytesTotal: record.sizeBytes,
      notices: [],
      result: null,
      error: null,
      startedAt: this.now().toISOString(),
      finishedAt: null,
    };
    this.jobs.set(job.restoreId, job);
    void this.deps.restore
      .restore({
        restoreId: job.restoreId,
        backupId,
        to: request.to,
        requestedBy,
        clean: request.clean,
        identities,
        onProgress: (done) => (job.bytesDone = done),
        onNotice: (message) => job.notices.push(message),
      })
      .then(
        (result) => Object.assign(job, { state: 'restored', result, finishedAt: this.now().toISOString() }),
        (error: Error) =>
          Object.assign(job, {
            state: 'failed',
            error: { code: error instanceof RestoreError ? error.code : 'RESTORE.FAILED', message: error.message },
            finishedAt: this.now().toISOString(),
          }),
      );
    return job;
  }

  /**
   * A point-in-time restore: the target is validated (400) and the data directory checked against
   * the resource's restoreTargets (403) before the job starts; the rest runs in the background.
   */
  async startPointInTime(resource: string, request: PointInTimeRequest, requestedBy: RestoreRequester = { via: 'http', operator: null }): Promise<RestoreJob> {
    const target = parseRecoveryTarget(request, this.now());
    const policy = policyForResource(this.deps.config, resource);
    if (!policy || policy.resource.kind !== 'postgres') throw new RestoreError('RESTORE.NOT_FOUND', `${resource} is not a configured PostgreSQL resource`, { status: 404 });
    if ((await lstat(request.toDataDir).catch(() => null))?.isSymbolicLink()) {
      throw new RestoreError('RESTORE.WRONG_TARGET', `${request.toDataDir} is a symbolic link: restore into a real, new or empty directory`, { status: 400 });
    }
    const allowed = await this.deps.restore.authorize({ resource, resourceKind: 'postgres', method: 'basebackup' }, request.toDataDir);
    const pitr = new PointInTimeRestore({ catalogue: this.deps.catalogue, restore: this.deps.restore, config: this.deps.config, location: this.deps.location ?? (() => null) });
    const job: RestoreJob = {
      restoreId: uuidv7(),
      backupId: null,
      to: allowed.redacted,
      state: 'running',
      bytesDone: 0,
      bytesTotal: null,
      notices: [],
      result: null,
      error: null,
      startedAt: this.now().toISOString(),
      finishedAt: null,
    };
    this.jobs.set(job.restoreId, job);
    const identities = policy.encryption?.identities ?? [];
    void pitr
      .run({
        resource,
        target,
        toDataDir: allowed.to,
        start: request.start ?? null,
        requestedBy,
        identities,
        keyFile: identities.length ? policy.encryption!.file : null,
        onProgress: (done, total) => Object.assign(job, { bytesDone: done, bytesTotal: total }),
        onNotice: (message) => job.notices.push(message),
      })
      .then(
        (result) => Object.assign(job, { state: 'restored', backupId: result.backup.backupId, result, finishedAt: this.now().toISOString() }),
        (error: Error) =>
          Object.assign(job, {
            state: 'failed',
            error: { code: error instanceof RestoreError ? error.code : 'RESTORE.FAILED', message: error.message },
            finishedAt: this.now().toISOString(),
          }),
      );
    return job;
  }

  get(restoreId: string): RestoreJob {
    const job = this.jobs.get(restoreId);
    if (!job) throw new RestoreNotFoundError(restoreId);
    return job;
  }
}
