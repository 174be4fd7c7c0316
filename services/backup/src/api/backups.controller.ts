import { BadRequestException, Body, ConflictException, Controller, Get, HttpCode, Inject, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import { z } from 'zod';
import { RESOURCE_PATTERN } from '@continuity/contracts';
import { BackupAlreadyRunningError, BackupRecord, BackupState, Catalogue } from '../catalogue/catalogue.js';
import { BackupRunner, UnknownResourceError } from '../backup-run/backup-runner.js';
import { BackupConfig, policyForResource } from '../config/backup-config.loader.js';
import { loadAgeKey } from '@continuity/artifacts';
import { RestoreError, RestoreResult, RestoreService } from '../restore/restore.service.js';
import { BACKUP_CONFIG, BACKUP_RUNNER, CATALOGUE, RESTORE } from '../tokens.js';

const StartBackupBody = z.strictObject({
  resource: z.string({ error: 'is required: the resource to back up' }).regex(RESOURCE_PATTERN, 'must be a resource name (letters, digits, "_" or "-")'),
});
const RestoreBody = z.strictObject({
  to: z.string({ error: 'is required: a directory path or a postgres:// URL' }).min(1, 'must not be empty'),
  clean: z.boolean().optional(),
  keyFile: z.string().min(1).optional(),
});
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** 400 naming the first bad field, e.g. `resource: is required: the resource to back up`. */
const parseBody = <S extends z.ZodType>(schema: S, body: unknown): z.infer<S> => {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys' ? i.keys.map((k) => ({ field: k, message: 'unknown field' })) : [{ field: i.path.join('.') || '(body)', message: i.message }],
  );
  throw new BadRequestException({
    statusCode: 400,
    error: 'Bad Request',
    code: 'BACKUP.INVALID_REQUEST',
    message: issues.map((i) => `${i.field}: ${i.message}`).join('; '),
    fields: issues,
  });
};

const view = (record: BackupRecord, live: { bytesDone: number; bytesExpected: number | null } | null) => {
  const bytesDone = live?.bytesDone ?? record.bytesDone;
  const bytesExpected = live?.bytesExpected ?? record.bytesExpected;
  return {
    backupId: record.backupId,
    resource: record.resource,
    policy: record.policy,
    kind: record.resourceKind,
    method: record.method,
    trigger: record.trigger,
    state: record.state,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt,
    recoveryPoint: record.recoveryPoint,
    progress: {
      bytesDone,
      bytesExpected,
      // An estimate (a dump is compressed, a tar has headers): capped below 100 until the run ends.
      percent: record.state !== 'running' ? 100 : bytesExpected ? Math.min(99, Math.floor((100 * bytesDone) / bytesExpected)) : null,
    },
    sizeBytes: record.sizeBytes,
    sha256: record.sha256,
    plaintext: record.plaintext,
    encryption: record.encryption,
    threeTwoOne: record.threeTwoOne,
    copies: record.copies.length ? record.copies : record.plannedCopies,
    verification: record.verdict,
    error: record.error,
    expiredAt: record.expiredAt,
  };
};

interface RestoreJob {
  restoreId: string;
  backupId: string;
  to: string;
  state: 'running' | 'restored' | 'failed';
  bytesDone: number;
  bytesTotal: number | null;
  notices: string[];
  result: RestoreResult | null;
  error: { code: string; message: string } | null;
  startedAt: string;
  finishedAt: string | null;
}

/**
 * On-demand backups and restores. A backup request returns 202 with the id at once; the run
 * goes on in the service. One run per resource at a time: a second request gets 409 naming the
 * running backup (the check is a unique index in the catalogue, so it holds across processes).
 */
@Controller()
export class BackupsController {
  private readonly restores = new Map<string, RestoreJob>();

  constructor(
    @Inject(BACKUP_RUNNER) private readonly runner: BackupRunner,
    @Inject(CATALOGUE) private readonly catalogue: Catalogue,
    @Inject(RESTORE) private readonly restore: RestoreService,
    @Inject(BACKUP_CONFIG) private readonly config: BackupConfig,
  ) {}

  @Post('backups')
  @HttpCode(202)
  async startBackup(@Body() body: unknown) {
    const { resource } = parseBody(StartBackupBody, body);
    try {
      const { backupId, done } = await this.runner.start(resource, { trigger: 'api' });
      void done; // the outcome is in the catalogue and on the event stream
      return { backupId, resource, state: 'running', links: { self: `/backups/${backupId}` } };
    } catch (error) {
      if (error instanceof UnknownResourceError) throw new NotFoundException({ statusCode: 404, error: 'Not Found', code: error.code, message: error.message });
      if (error instanceof BackupAlreadyRunningError) {
        throw new ConflictException({ statusCode: 409, error: 'Conflict', code: error.code, message: error.message, runningBackupId: error.runningBackupId });
      }
      throw error;
    }
  }

  @Get('backups')
  async list(@Query('resource') resource?: string, @Query('state') state?: string, @Query('limit') limit?: string) {
    const states = state ? (state.split(',') as BackupState[]) : undefined;
    if (states?.some((s) => !['running', 'created', 'failed', 'expired'].includes(s))) {
      throw new BadRequestException({ statusCode: 400, error: 'Bad Request', code: 'BACKUP.INVALID_REQUEST', message: 'state: must be running, created, failed or expired (comma-separated)' });
    }
    const max = limit === undefined ? 100 : Number(limit);
    if (!Number.isInteger(max) || max < 1 || max > 10_000) {
      throw new BadRequestException({ statusCode: 400, error: 'Bad Request', code: 'BACKUP.INVALID_REQUEST', message: 'limit: must be a whole number from 1 to 10000' });
    }
    const records = await this.catalogue.list({ resource: resource || undefined, states, limit: max });
    return { backups: records.map((r) => view(r, this.runner.progressOf(r.backupId))) };
  }

  @Get('backups/:id')
  async get(@Param('id') id: string) {
    const record = UUID.test(id) ? await this.catalogue.get(id) : null;
    if (!record) throw new NotFoundException({ statusCode: 404, error: 'Not Found', code: 'BACKUP.NOT_FOUND', message: `no backup ${id}` });
    return view(record, this.runner.progressOf(id));
  }

  @Post('backups/:id/restore')
  @HttpCode(202)
  async startRestore(@Param('id') id: string, @Body() body: unknown) {
    const request = parseBody(RestoreBody, body);
    const record = UUID.test(id) ? await this.catalogue.get(id) : null;
    if (!record) throw new NotFoundException({ statusCode: 404, error: 'Not Found', code: 'BACKUP.NOT_FOUND', message: `no backup ${id}` });
    let identities: string[] = [];
    try {
      if (request.keyFile) identities = (await loadAgeKey(request.keyFile)).identities;
      else identities = policyForResource(this.config, record.resource)?.encryption?.identities ?? [];
    } catch (error) {
      throw new BadRequestException({ statusCode: 400, error: 'Bad Request', code: 'RESTORE.KEY_INVALID', message: `keyFile: ${(error as Error).message}` });
    }
    const job: RestoreJob = {
      restoreId: uuidv7(),
      backupId: id,
      to: request.to.replace(/(\/\/[^:/]+:)[^@]+@/, '$1***@'),
      state: 'running',
      bytesDone: 0,
      bytesTotal: record.sizeBytes,
      notices: [],
      result: null,
      error: null,
      startedAt: new Date().toISOString(),
      finishedAt: null,
    };
    this.restores.set(job.restoreId, job);
    void this.restore
      .restore({
        backupId: id,
        to: request.to,
        clean: request.clean,
        identities,
        onProgress: (done) => (job.bytesDone = done),
        onNotice: (message) => job.notices.push(message),
      })
      .then(
        (result) => Object.assign(job, { state: 'restored', result, finishedAt: new Date().toISOString() }),
        (error: Error) =>
          Object.assign(job, {
            state: 'failed',
            error: { code: error instanceof RestoreError ? error.code : 'RESTORE.FAILED', message: error.message },
            finishedAt: new Date().toISOString(),
          }),
      );
    return { restoreId: job.restoreId, backupId: id, state: 'running', links: { self: `/restores/${job.restoreId}` } };
  }

  @Get('restores/:id')
  getRestore(@Param('id') id: string) {
    const job = this.restores.get(id);
    if (!job) throw new NotFoundException({ statusCode: 404, error: 'Not Found', code: 'RESTORE.NOT_FOUND', message: `no restore ${id} (restores are kept in memory until the service restarts)` });
    return job;
  }
}
