import { Body, Controller, HttpCode, Inject, Post } from '@nestjs/common';
import { z } from 'zod';
import { RESOURCE_PATTERN } from '@continuity/contracts';
import { parseRequest, Roles } from '@continuity/runtime';
import { BACKUP_RUNNER } from '../tokens.js';
import { BackupRunner } from './backup-runner.js';

const StartBackupBody = z.strictObject({
  resource: z.string({ error: 'is required: the resource to back up' }).regex(RESOURCE_PATTERN, 'must be a resource name (letters, digits, "_" or "-")'),
});

/**
 * On-demand backups. A request returns 202 with the id at once; the run goes on in the service.
 * One run per resource at a time: a second request gets 409 naming the running backup (the check
 * is a unique index in the catalogue, so it holds across processes).
 */
@Controller('backups')
export class BackupRunHttpController {
  constructor(@Inject(BACKUP_RUNNER) private readonly runner: BackupRunner) {}

  @Post()
  @Roles('operator')
  @HttpCode(202)
  async start(@Body() body: unknown) {
    const { resource } = parseRequest(StartBackupBody, body, { code: 'BACKUP.INVALID_REQUEST' });
    // The outcome is in the catalogue and on the event stream: `done` is not awaited.
    const { backupId } = await this.runner.start(resource, { trigger: 'api' });
    return { backupId, resource, state: 'running', links: { self: `/backups/${backupId}` } };
  }
}
