import { DynamicModule, Global, Inject, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Pool } from 'pg';
import { ContinuityPublisher, Topology } from '@continuity/contracts';
import { DeadLetters } from '@continuity/messaging';
import type { Telemetry } from '@continuity/telemetry';
import { BaseConfig, topologyFor } from './config.js';
import { HealthController, ReadinessChecks } from './health.controller.js';
import { MetricsController } from './metrics.controller.js';
import { DlqController } from './dlq/dlq.controller.js';
import { APP_GUARD } from '@nestjs/core';
import { AccessGuard } from './http/access.guard.js';
import { Authenticator } from './http/authenticator.js';
import { NATS_CONNECTION, PG_POOL, PUBLISHER, SERVICE_CONFIG, TELEMETRY, TOPOLOGY } from './tokens.js';

export interface RuntimeOptions {
  serviceName: string;
  config: BaseConfig;
  telemetry: Telemetry;
  /** Connected before Nest starts, so an unreachable NATS is waited for and reported plainly (see `waitForNats`). */
  nats: NatsConnection;
}

/** Closes what the runtime opened, after the transport has finished its in-flight messages. */
class RuntimeShutdown implements OnApplicationShutdown {
  private readonly logger = new Logger('Runtime');
  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(TELEMETRY) private readonly telemetry: Telemetry,
  ) {}

  async onApplicationShutdown() {
    await this.nc.drain().catch((error: Error) => this.logger.warn(`NATS drain: ${error.message}`));
    await this.pool.end().catch((error: Error) => this.logger.warn(`PostgreSQL pool: ${error.message}`));
    await this.telemetry.shutdown().catch((error: Error) => this.logger.warn(`telemetry: ${error.message}`));
  }
}

/**
 * What every service process has: its validated config, one NATS connection, a PostgreSQL pool,
 * the typed publisher, the `/health/*`, `/metrics` and operators' `/dlq` routes, and the HTTP guard. Global, so slices inject them.
 */
@Global()
@Module({})
export class RuntimeModule {
  static forRoot(options: RuntimeOptions): DynamicModule {
    const topology: Topology = topologyFor(options.config.CONTINUITY_NAMESPACE);
    return {
      module: RuntimeModule,
      controllers: [HealthController, MetricsController, DlqController],
      providers: [
        { provide: SERVICE_CONFIG, useValue: options.config },
        { provide: TELEMETRY, useValue: options.telemetry },
        { provide: TOPOLOGY, useValue: topology },
        { provide: NATS_CONNECTION, useValue: options.nats },
        {
          provide: PG_POOL,
          useFactory: () => {
            const pool = new Pool({ connectionString: options.config.DATABASE_URL, max: 10, connectionTimeoutMillis: 2_000 });
            // An idle client's error (server restart) must not crash the process; readiness reports it.
            pool.on('error', (error) => new Logger('PostgreSQL').warn(error.message));
            return pool;
          },
        },
        {
          provide: PUBLISHER,
          inject: [NATS_CONNECTION],
          useFactory: (nc: NatsConnection) => new ContinuityPublisher(jetstream(nc), { source: options.serviceName, topology }),
        },
        {
          provide: DeadLetters,
          inject: [NATS_CONNECTION, PUBLISHER],
          useFactory: (nc: NatsConnection, publisher: ContinuityPublisher) => new DeadLetters(nc, { topology, publisher }),
        },
        // Deny by default, in every service: each route is public, or needs a token with a role.
        Authenticator,
        { provide: APP_GUARD, useClass: AccessGuard },
        ReadinessChecks,
        RuntimeShutdown,
      ],
      exports: [SERVICE_CONFIG, TELEMETRY, TOPOLOGY, NATS_CONNECTION, PG_POOL, PUBLISHER, ReadinessChecks, Authenticator],
    };
  }
}
