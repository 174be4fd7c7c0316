import { Get, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { ResourceSchema, RiskSeveritySchema } from '@continuity/contracts';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { Roles } from '../api/roles.js';
import { parseQuery } from '../api/query.js';
import { RiskRegisterService } from './risk-register.service.js';

const risksQuery = z.object({
  resource: ResourceSchema.optional(),
  /** At least this severe. */
  severity: RiskSeveritySchema.optional(),
});

@AuditHttpController()
export class RisksHttpController {
  constructor(private readonly register: RiskRegisterService) {}

  @Get('risks')
  @Roles('viewer') // viewers, auditors, operators and admins (each role includes viewer)
  @ApiOperation({ summary: 'The risk register now: every finding (rule, severity, summary, mitigation, evidence event ids), worst first; ?resource= and ?severity= (at least) filter' })
  risks(@Query() query: unknown) {
    return this.register.list(parseQuery(risksQuery, query));
  }
}
