import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { z } from 'zod';
import { parseRequest, Roles } from '@continuity/runtime';
import { FailoverSupervisors } from './failover.supervisors.js';

const SwitchoverBody = z.strictObject({ to: z.string().min(1, 'must name the standby to promote') });

/** Errors are DomainErrors (failover.errors.ts): the runtime's HttpErrorFilter answers them with their code and status. */
@Controller('failover')
export class FailoverHttpController {
  constructor(private readonly supervisors: FailoverSupervisors) {}

  /** Every watched resource as this instance sees it. */
  @Get()
  list() {
    return { instance: this.supervisors.instanceId, resources: this.supervisors.all().map((s) => s.status()) };
  }

  /** One resource as this instance sees it (leader or not, observations, last decision, failovers). */
  @Get(':resource')
  status(@Param('resource') resource: string) {
    return this.supervisors.describe(resource);
  }

  /**
   * The route record: 200 with the current primary, 503 when there is none (yet). With
   * `?member=<name>`, 200 only when that member is the primary: a load balancer's health check.
   */
  @Get(':resource/primary')
  primary(@Param('resource') resource: string, @Query('member') member?: string) {
    return this.supervisors.primary(resource, member);
  }

  /** A planned switchover with no data loss; answers when it is done (or refused, with why). */
  @Post(':resource/switchover')
  @Roles('operator')
  @HttpCode(200)
  switchover(@Param('resource') resource: string, @Body() body: unknown) {
    const { to } = parseRequest(SwitchoverBody, body, { part: 'body', code: 'FAILOVER.BAD_REQUEST' });
    return this.supervisors.switchover(resource, to);
  }

  /** An operator rebuilt a fenced former primary as a standby: it may be promoted again. */
  @Post(':resource/members/:member/rebuilt')
  @Roles('operator')
  @HttpCode(200)
  rebuilt(@Param('resource') resource: string, @Param('member') member: string) {
    return this.supervisors.memberRebuilt(resource, member);
  }
}
