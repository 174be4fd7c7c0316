import { Body, Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { z } from 'zod';
import { parseRequest, Roles } from '@continuity/runtime';
import { RESTORE_JOBS } from '../tokens.js';
import { RestoreJobs } from './restore-jobs.js';

// No keyFile: the key comes from the resource's policy, never from a path the caller names (an
// unknown field is a 400 naming it).
const RestoreBody = z.strictObject({
  to: z.string({ error: 'is required: a directory path or a postgres:// URL among the resource\'s restoreTargets' }).min(1, 'must not be empty'),
  clean: z.boolean().optional(),
});

// A point-in-time restore: one target, a data directory among the resource's restoreTargets, no key file.
const PointInTimeBody = z.strictObject({
  toDataDir: z.string({ error: "is required: a new or empty data directory among the resource's restoreTargets" }).min(1).max(4096),
  at: z.string().max(64).optional(),
  lsn: z.string().max(32).optional(),
  name: z.string().max(64).optional(),
  latest: z.literal(true).optional(),
  start: z.strictObject({ port: z.int().min(1).max(65535) }).optional(),
});

/** Restores over HTTP: 202 with the restore's id at once, then its progress and outcome by id. */
@Controller()
export class RestoreHttpController {
  constructor(@Inject(RESTORE_JOBS) private readonly jobs: RestoreJobs) {}

  @Post('backups/:id/restore')
  @Roles('operator')
  @HttpCode(202)
  async start(@Param('id') backupId: string, @Body() body: unknown) {
    const job = await this.jobs.start(backupId, parseRequest(RestoreBody, body, { code: 'BACKUP.INVALID_REQUEST' }));
    return { restoreId: job.restoreId, backupId, state: 'running', links: { self: `/restores/${job.restoreId}` } };
  }

  @Post('resources/:resource/restore')
  @Roles('operator')
  @HttpCode(202)
  async startPointInTime(@Param('resource') resource: string, @Body() body: unknown) {
    const job = await this.jobs.startPointInTime(resource, parseRequest(PointInTimeBody, body, { code: 'BACKUP.INVALID_REQUEST' }));
    return { restoreId: job.restoreId, resource, state: 'running', links: { self: `/restores/${job.restoreId}` } };
  }

  @Get('restores/:id')
  get(@Param('id') restoreId: string) {
    return this.jobs.get(restoreId);
  }
}
