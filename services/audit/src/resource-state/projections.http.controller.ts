import { HttpCode, Post, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { DomainError } from '@continuity/contracts';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { Roles } from '../api/roles.js';
import { parseQuery } from '../api/query.js';
import { WriterLease } from '../database/writer-lease.js';
import { ProjectionRebuildService } from './projection-rebuild.service.js';

/** Replacing projections on a standby would leave the writer folding into its stale cached copy: 409. */
export class NotTheWriterError extends DomainError {
  constructor(writer: string | null) {
    super('AUDIT.NOT_THE_WRITER', `only the ledger writer replaces projections; ask instance ${writer ?? '(none right now)'}`, 409);
  }
}

@AuditHttpController()
export class ProjectionsHttpController {
  constructor(
    private readonly rebuilder: ProjectionRebuildService,
    private readonly lease: WriterLease,
  ) {}

  @Post('projections/rebuild')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({ summary: 'Rebuild every projection from the log and compare; ?apply=true replaces the stored ones (operator)' })
  async rebuild(@Query() query: unknown) {
    const { apply } = parseQuery(z.object({ apply: z.enum(['true', 'false'], { message: 'must be true or false' }).default('false') }), query);
    if (apply === 'true' && !this.lease.isWriter) throw new NotTheWriterError((await this.lease.status()).writer);
    return this.rebuilder.rebuild(apply === 'true');
  }
}
