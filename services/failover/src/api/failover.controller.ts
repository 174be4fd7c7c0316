import { BadRequestException, Body, ConflictException, Controller, Get, HttpCode, HttpException, HttpStatus, Param, Post, Query, ServiceUnavailableException } from '@nestjs/common';
import { z } from 'zod';
import { FailoverSupervisors, UnknownResourceError } from '../failover-decision/failover.supervisors.js';
import {
  EpochConflictError,
  MemberNotStandbyError,
  NotLeaderError,
  SwitchoverAbandonedError,
  UnknownMemberError,
} from '../failover-decision/resource-supervisor.js';

const SwitchoverBody = z.strictObject({ to: z.string().min(1, 'must name the standby to promote') });

/** Domain errors → HTTP, keeping their code and message. */
const toHttp = (error: unknown): unknown => {
  const body = (status: number, e: Error & { code: string }, extra: Record<string, unknown> = {}) =>
    new HttpException({ statusCode: status, code: e.code, message: e.message, ...extra }, status);
  if (error instanceof UnknownResourceError || error instanceof UnknownMemberError) return body(HttpStatus.NOT_FOUND, error);
  if (error instanceof NotLeaderError) return body(HttpStatus.CONFLICT, error, { leader: error.leader });
  if (error instanceof EpochConflictError || error instanceof MemberNotStandbyError) return body(HttpStatus.CONFLICT, error);
  if (error instanceof SwitchoverAbandonedError) return body(HttpStatus.CONFLICT, error, { failoverId: error.failoverId });
  return error;
};

const guard = async <T>(fn: () => Promise<T> | T): Promise<T> => {
  try {
    return await fn();
  } catch (error) {
    throw toHttp(error);
  }
};

@Controller('failover')
export class FailoverController {
  constructor(private readonly supervisors: FailoverSupervisors) {}

  /** Every watched resource as this instance sees it. */
  @Get()
  list() {
    return { instance: this.supervisors.instanceId, resources: this.supervisors.all().map((s) => s.status()) };
  }

  /** One resource as this instance sees it (leader or not, observations, last decision, failovers). */
  @Get(':resource')
  status(@Param('resource') resource: string) {
    return guard(async () => {
      const supervisor = this.supervisors.get(resource);
      return { ...supervisor.status(), leaseHolder: (await supervisor.leaseHolder().catch(() => null))?.holder ?? null };
    });
  }

  /**
   * The route record: 200 with the current primary, 503 when there is none (yet). With
   * `?member=<name>`, 200 only when that member is the primary: a load balancer's health check.
   */
  @Get(':resource/primary')
  async primary(@Param('resource') resource: string, @Query('member') member?: string) {
    const store = this.supervisors.routes();
    const route = store ? await store.readRoute(resource) : null;
    if (!route) {
      throw new ServiceUnavailableException({ statusCode: 503, code: 'FAILOVER.NO_PRIMARY', message: `no primary is routed for ${resource}` });
    }
    if (member !== undefined && route.record.primary !== member) {
      throw new ServiceUnavailableException({ statusCode: 503, code: 'FAILOVER.NOT_PRIMARY', message: `${member} is not the primary of ${resource} (${route.record.primary} is, epoch ${route.record.epoch})`, route: route.record });
    }
    return route.record;
  }

  /** A planned switchover with no data loss; answers when it is done (or refused, with why). */
  @Post(':resource/switchover')
  @HttpCode(200)
  switchover(@Param('resource') resource: string, @Body() body: unknown) {
    const parsed = SwitchoverBody.safeParse(body ?? {});
    if (!parsed.success) {
      throw new BadRequestException({ statusCode: 400, code: 'FAILOVER.BAD_REQUEST', message: parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ') });
    }
    return guard(async () => {
      const result = await this.supervisors.get(resource).switchover(parsed.data.to);
      if ('type' in result && result.type === 'rejected') throw new ConflictException({ statusCode: 409, code: result.code, message: result.reason });
      return result;
    });
  }

  /** An operator rebuilt a fenced former primary as a standby: it may be promoted again. */
  @Post(':resource/members/:member/rebuilt')
  @HttpCode(200)
  rebuilt(@Param('resource') resource: string, @Param('member') member: string) {
    return guard(() => this.supervisors.get(resource).memberRebuilt(member));
  }
}
