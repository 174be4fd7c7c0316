import { Controller, Get, HttpStatus, Inject, Injectable, Res } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Pool } from 'pg';
import type { Response } from 'express';
import { NATS_CONNECTION, PG_POOL } from './tokens.js';
import { Public } from './http/access.guard.js';

/** `warning`: up, but something needs attention soon (e.g. a stream nearly full). */
export type CheckResult = { status: 'up'; warning?: string } | { status: 'down'; error: string };

export type ReadinessCheck = { name: string; check: () => Promise<CheckResult> };

/** Service-specific readiness checks (e.g. the audit ledger's tamper check) register here. */
@Injectable()
export class ReadinessChecks {
  private readonly checks: ReadinessCheck[] = [];
  register(name: string, check: () => Promise<CheckResult>) {
    this.checks.push({ name, check });
  }
  all(): readonly ReadinessCheck[] {
    return this.checks;
  }
}

const withTimeout = <T>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms).unref())]);

@Public()
@Controller('health')
export class HealthController {
  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly extra: ReadinessChecks,
  ) {}

  /** The process is up and serving HTTP. */
  @Get('live')
  live() {
    return { status: 'ok' };
  }

  /** NATS connected and PostgreSQL answering (and any service-specific check): 200, else 503. */
  @Get('ready')
  async ready(@Res({ passthrough: true }) res: Response) {
    const checks: Record<string, CheckResult> = {
      // A round trip, not just "not closed": a connection that is reconnecting is not closed either.
      nats: this.nc.isClosed()
        ? { status: 'down', error: 'connection closed' }
        : await withTimeout(this.nc.flush(), 2_000, 'NATS ping').then(
            (): CheckResult => ({ status: 'up' }),
            (error: Error): CheckResult => ({ status: 'down', error: error.message }),
          ),
      postgres: await withTimeout(this.pool.query('select 1'), 2_000, 'select 1').then(
        (): CheckResult => ({ status: 'up' }),
        (error: Error): CheckResult => ({ status: 'down', error: error.message }),
      ),
    };
    for (const { name, check } of this.extra.all()) {
      checks[name] = await check().catch((error: Error): CheckResult => ({ status: 'down', error: error.message }));
    }
    const ok = Object.values(checks).every((c) => c.status === 'up');
    res.status(ok ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return { status: ok ? 'ok' : 'unavailable', checks };
  }
}
