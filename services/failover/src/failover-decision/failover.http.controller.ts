import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { z } from 'zod';
import { NameSchema, ResourceSchema } from '@continuity/contracts';
import { parseRequest, Public, Roles } from '@continuity/runtime';
import { FailoverSupervisors } from './failover.supervisors.js';

/** Bounded: a health check is open to anyone who reaches the port (see the README's Load balancers). */
const MemberCheckParams = z.strictObject({ resource: ResourceSchema, member: NameSchema.regex(/^[A-Za-z0-9_.-]+$/, 'must be letters, digits, _ . -') });
const ReplicaQuery = z.strictObject({ maxLagBytes: z.coerce.number().int().min(0).max(2 ** 40).default(16 * 1024 * 1024) });

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

  /**
   * Load-balancer checks (HAProxy `option httpchk`), open like health: 200 only when the member is
   * the routed, writable primary; 503 otherwise, with the reason as text.
   */
  @Get(':resource/members/:member/primary')
  @Public()
  async memberPrimary(@Param() params: unknown, @Res({ passthrough: true }) res: Response) {
    const { resource, member } = parseRequest(MemberCheckParams, params, { part: 'params', code: 'FAILOVER.BAD_REQUEST' });
    return this.answer(res, await this.supervisors.memberCheck(resource, member, 'primary', 0));
  }

  /** 200 only for a standby streaming from the routed primary within `?maxLagBytes=` (default 16 MiB). */
  @Get(':resource/members/:member/replica')
  @Public()
  async memberReplica(@Param() params: unknown, @Query() query: unknown, @Res({ passthrough: true }) res: Response) {
    const { resource, member } = parseRequest(MemberCheckParams, params, { part: 'params', code: 'FAILOVER.BAD_REQUEST' });
    const { maxLagBytes } = parseRequest(ReplicaQuery, query, { part: 'query', code: 'FAILOVER.BAD_REQUEST' });
    return this.answer(res, await this.supervisors.memberCheck(resource, member, 'replica', maxLagBytes));
  }

  private answer(res: Response, check: { healthy: boolean; detail: string }) {
    res.status(check.healthy ? 200 : 503).type('text/plain').setHeader('cache-control', 'no-store');
    return `${check.detail}\n`;
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
