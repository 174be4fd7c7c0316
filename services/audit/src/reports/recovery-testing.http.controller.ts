import { Get, Headers, Query, Res, StreamableFile } from '@nestjs/common';
import type { Response } from 'express';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { Roles } from '../api/roles.js';
import { isoTime, parseQuery, RangeTooLargeError } from '../api/query.js';
import { REPORT_MAX_DAYS } from './reports.http.controller.js';
import { RecoveryTestingReportService } from './recovery-testing.service.js';

const DAY_MS = 86_400_000;
const DEFAULT_WINDOW_MS = 90 * DAY_MS;

const reportQuery = z
  .object({
    from: isoTime.optional(),
    to: isoTime.optional(),
    format: z.enum(['json', 'html', 'pdf'], { message: 'must be json, html or pdf' }).optional(),
  })
  .refine((q) => !q.from || !q.to || q.from < q.to, { message: 'from must be before to', path: ['from'] });

@AuditHttpController()
export class RecoveryTestingHttpController {
  constructor(private readonly reports: RecoveryTestingReportService) {}

  @Get('reports/recovery-testing')
  @Roles('viewer', 'auditor')
  @ApiOperation({ summary: 'Recovery-testing report (every drill and restore test, RTO/RPO against targets, trends, failures): JSON, HTML (?format=html or Accept: text/html) or PDF (?format=pdf)' })
  async recoveryTesting(@Query() query: unknown, @Headers('accept') accept: string | undefined, @Res({ passthrough: true }) res: Response) {
    const { from, to, format } = parseQuery(reportQuery, query);
    const end = to ?? new Date();
    const start = from ?? new Date(end.getTime() - DEFAULT_WINDOW_MS);
    if (end.getTime() - start.getTime() > REPORT_MAX_DAYS * DAY_MS) {
      throw new RangeTooLargeError(`a report from ${start.toISOString()} to ${end.toISOString()}`, REPORT_MAX_DAYS, 'days', 'ask for consecutive periods');
    }
    const chosen = format ?? ((accept ?? '').includes('text/html') ? 'html' : (accept ?? '').includes('application/pdf') ? 'pdf' : 'json');
    if (chosen === 'json') return this.reports.json(start, end);
    if (chosen === 'html') {
      res.type('html');
      return this.reports.html(start, end);
    }
    const pdf = await this.reports.pdf(start, end);
    return new StreamableFile(pdf, { type: 'application/pdf', disposition: `inline; filename="recovery-testing-${start.toISOString().slice(0, 10)}-${end.toISOString().slice(0, 10)}.pdf"` });
  }
}
