import { Get, Param, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { ResourceSchema } from '@continuity/contracts';
import { parseRequest } from '@continuity/runtime';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { READERS, Roles } from '../api/roles.js';
import { parseQuery } from '../api/query.js';
import { renderPlanHtml, renderPlanMarkdown } from './continuity-plan.js';
import { PlanService } from './plan.service.js';

const planPath = z.object({ resource: ResourceSchema });
const planQuery = z.object({ format: z.enum(['markdown', 'html', 'json'], { message: 'must be markdown, html or json' }).default('markdown') });

@AuditHttpController()
export class PlanHttpController {
  constructor(private readonly plans: PlanService) {}

  @Get('resources/:resource/plan')
  @Roles('viewer', ...READERS)
  @ApiOperation({ summary: "A resource's business continuity plan from configuration and ledger evidence: Markdown (default), ?format=html or json" })
  async plan(@Param('resource') resource: string, @Query() query: unknown, @Res({ passthrough: true }) res: Response) {
    const name = parseRequest(planPath, { resource }, { part: 'params' }).resource;
    const { format } = parseQuery(planQuery, query);
    const plan = await this.plans.plan(name);
    if (format === 'json') return plan;
    res.type(format === 'html' ? 'html' : 'text/markdown; charset=utf-8');
    // Nothing here runs scripts: a page that still would is not allowed to.
    res.setHeader('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'");
    return format === 'html' ? renderPlanHtml(plan) : renderPlanMarkdown(plan);
  }
}
