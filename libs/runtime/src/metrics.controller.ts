import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Telemetry } from '@continuity/telemetry';
import { TELEMETRY } from './tokens.js';
import { Public } from './http/access.guard.js';

@Public()
@Controller()
export class MetricsController {
  constructor(@Inject(TELEMETRY) private readonly telemetry: Telemetry) {}

  /** Prometheus text exposition of every OpenTelemetry metric of this process. */
  @Get('metrics')
  metrics(@Req() req: Request, @Res() res: Response) {
    this.telemetry.serveMetrics(req, res);
  }
}
