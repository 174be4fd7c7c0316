import { Get, Headers, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { READERS, Roles } from '../api/roles.js';
import { isoTime, parseQuery, RangeTooLargeError } from '../api/query.js';
import { ReportService } from './report.service.js';

const DAY_MS = 86_400_000;
const DEFAULT_WINDOW_MS = 30 * DAY_MS;
/** A report folds every event of its period in memory: a year and a month at most per request. */
export const REPORT_MAX_DAYS = 400;

const reportQuery = z
  .object({
    from: isoTime.optional(),
    to: isoTime.optional(),
    format: z.enum(['json', 'html'], { message: 'must be json or html' }).optional(),
  })
  .refine((q) => !q.from || !q.to || q.from < q.to, { message: 'from must be before to', path: ['from'] });

@AuditHttpController()
export class ReportsHttpController {
  constructor(private readonly reports: ReportService) {}

  @Get('reports/continuity')
  @Roles(...READERS)
  @ApiOperation({ summary: 'Continuity report (RPO, backups, 3-2-1, failovers, availability, SLO breaches): JSON, or HTML with ?format=html or Accept: text/html' })
  async continuityReport(@Query() query: unknown, @Headers('accept') accept: string | undefined, @Res({ passthrough: true }) res: Response) {
    const { from, to, format } = parseQuery(reportQuery, query);
    const end = to ?? new Date();
    const start = from ?? new Date(end.getTime() - DEFAULT_WINDOW_MS);
    if (end.getTime() - start.getTime() > REPORT_MAX_DAYS * DAY_MS) {
      throw new RangeTooLargeError(`a report from ${start.toISOString()} to ${end.toISOString()}`, REPORT_MAX_DAYS, 'days', 'ask for consecutive periods');
    }
    const html = format === 'html' || (!format && (accept ?? '').includes('text/html'));
    if (!html) return this.reports.continuity(start, end);
    res.type('html');
    return this.reports.continuityHtml(start, end);
  }
}
