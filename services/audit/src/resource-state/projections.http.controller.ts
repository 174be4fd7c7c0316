import { HttpCode, Post, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { Roles } from '../api/roles.js';
import { parseQuery } from '../api/query.js';
import { ProjectionRebuildService } from './projection-rebuild.service.js';

@AuditHttpController()
export class ProjectionsHttpController {
  constructor(private readonly rebuilder: ProjectionRebuildService) {}

  @Post('projections/rebuild')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({ summary: 'Rebuild every projection from the log and compare; ?apply=true replaces the stored ones (operator)' })
  rebuild(@Query() query: unknown) {
    const { apply } = parseQuery(z.object({ apply: z.enum(['true', 'false'], { message: 'must be true or false' }).default('false') }), query);
    return this.rebuilder.rebuild(apply === 'true');
  }
}
