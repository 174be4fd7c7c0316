import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { z } from 'zod';
import { parseRequest } from '@continuity/runtime';
import { BackupRunner } from '../backup-run/backup-runner.js';
import { BACKUP_RUNNER, CATALOGUE } from '../tokens.js';
import { backupView } from './backup.view.js';
import { BackupRecord, BackupState, Catalogue } from './catalogue.js';

const STATES: readonly BackupState[] = ['running', 'created', 'failed', 'expired'];

// Not strict: parameters this route does not know are ignored, as they always were.
const ListQuery = z.object({
  resource: z
    .string()
    .optional()
    .transform((resource) => resource || undefined),
  state: z
    .string()
    .optional()
    .transform((state) => (state ? (state.split(',') as BackupState[]) : undefined))
    .refine((states) => !states || states.every((s) => STATES.includes(s)), 'must be running, created, failed or expired (comma-separated)'),
  limit: z
    .string()
    .optional()
    .transform((limit) => (limit === undefined ? 100 : Number(limit)))
    .refine((max) => Number.isInteger(max) && max >= 1 && max <= 10_000, 'must be a whole number from 1 to 10000'),
});

/**
 * While this process runs a backup, its record changes only in what the run's live progress shows
 * instead (bytes, heartbeat) until the run ends, when the runner lets it go: a client polling the
 * run reads the catalogue at most this often, not on every request (a query per request took CPU
 * from the dump being polled).
 */
export const RUNNING_RECORD_MAX_AGE_MS = 1_000;

/** The catalogue over HTTP: backups newest first, and one backup with the live progress of its run. */
@Controller('backups')
export class BackupsHttpController {
  constructor(
    @Inject(CATALOGUE) private readonly catalogue: Catalogue,
    @Inject(BACKUP_RUNNER) private readonly runner: BackupRunner,
  ) {}

  @Get()
  async list(@Query() query: unknown) {
    const { resource, state, limit } = parseRequest(ListQuery, query, { part: 'query', code: 'BACKUP.INVALID_REQUEST' });
    const records = await this.catalogue.list({ resource, states: state, limit });
    return { backups: records.map((r) => backupView(r, this.runner.progressOf(r.backupId))) };
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    for (const runId of this.running.keys()) if (!this.runner.isRunning(runId)) this.running.delete(runId);
    const read = this.running.get(id);
    const now = Date.now();
    if (read && now - read.at < RUNNING_RECORD_MAX_AGE_MS) return backupView(read.record, this.runner.progressOf(id));
    const record = await this.catalogue.getOrNotFound(id);
    if (record.state === 'running' && this.runner.isRunning(id)) this.running.set(id, { record, at: now });
    return backupView(record, this.runner.progressOf(id));
  }

  /** The records of runs of this process, as last read (see RUNNING_RECORD_MAX_AGE_MS). */
  private readonly running = new Map<string, { record: BackupRecord; at: number }>();
}
