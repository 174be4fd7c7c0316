import 'reflect-metadata';
import { INestApplication, Logger, LogLevel, Module, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { z } from 'zod';
import { jetstreamManager } from '@nats-io/jetstream';
import { deadLetterFill, endpointsOf, JetStreamTransport } from '@continuity/messaging';
import { startTelemetry } from '@continuity/telemetry';
import { baseEnvSchema, BaseConfig, ConfigError, loadConfig, natsAuthOf, provenancePolicyOf, topologyFor } from './config.js';
import { natsIdentityOf } from '@continuity/messaging';
import type { Pool } from 'pg';
import type { NatsConnection } from '@nats-io/transport-node';
import { RuntimeModule } from './runtime.module.js';
import { NatsLogin, waitForNats, waitForPostgres } from './startup-wait.js';
import { ReadinessChecks } from './health.controller.js';
import { PG_POOL } from './tokens.js';
import { HttpErrorFilter } from './http/error.filter.js';
import { acceptJsonBodiesOnly } from './http/json-bodies.js';
import { DependencyUnreachableError } from './unreachable.js';
import { JsonLogger } from './logging/json-logger.js';
import { registerDeadLetterGauge } from './dead-letter.metrics.js';

/** Readiness warns from this fill of the dead-letter stream's max_bytes on. */
export const DEAD_LETTER_WARN_FILL = 0.8;

export interface ServiceSpec<S extends z.ZodType<BaseConfig> = z.ZodType<BaseConfig>> {
  /** `backup`, `verifier`, `failover`, `audit`: names its durable consumers and its telemetry. */
  name: string;
  defaultPort: number;
  /** The service's own module (its slices). */
  module: Type<unknown>;
  /** The service's environment schema; defaults to the base one. */
  envSchema?: S;
  env?: NodeJS.ProcessEnv;
  /** Last touches on the HTTP app before it listens (e.g. OpenAPI docs). */
  configure?: (app: INestApplication) => void;
  /** Exact paths whose POST may carry a small HTML form instead of JSON (the audit status page's login). */
  formPaths?: readonly string[];
}

/**
 * PostgreSQL answers and takes writes: a server in recovery (a standby, or a primary restarting)
 * answers `select 1` but refuses every write, so handlers keep waiting for it.
 */
const probePostgres = async (pool: Pool) => {
  const { rows } = await pool.query<{ recovery: boolean }>('select pg_is_in_recovery() as recovery');
  if (rows[0]?.recovery) throw new Error('PostgreSQL is in recovery (a standby, or still starting): it refuses writes');
};

/**
 * SIGTERM/SIGINT: close the app (the transport stops pulling and finishes in-flight messages, then
 * connections close) and exit 0. A second signal, or 30 s without finishing, exits at once.
 */
const stopOnSignals = (app: INestApplication, logger: Logger) => {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn(`${signal} again: exiting without finishing in-flight work`);
      process.exit(130);
    }
    stopping = true;
    logger.log(`${signal}: finishing in-flight messages, then stopping`);
    setTimeout(() => {
      logger.error('graceful stop took over 30 s; exiting');
      process.exit(1);
    }, 30_000).unref();
    app.close().then(
      () => {
        logger.log('stopped');
        process.exit(0);
      },
      (error: Error) => {
        logger.error(`error while stopping: ${error.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
};

const LEVELS: LogLevel[] = ['error', 'warn', 'log', 'debug', 'verbose'];

/**
 * Waits (up to `STARTUP_WAIT_MS`, both at once, each saying what it waits for) until NATS with
 * JetStream and PostgreSQL answer: a service started before or during their outage comes up by
 * itself once they do. Resolves with the NATS connection.
 */
const waitForDependencies = async (config: BaseConfig, name: string, login: NatsLogin): Promise<NatsConnection> => {
  const wait = { deadline: Date.now() + config.STARTUP_WAIT_MS, waitMs: config.STARTUP_WAIT_MS, logger: new Logger(name) };
  const [nats, postgres] = await Promise.allSettled([waitForNats(config.NATS_URL, name, wait, login), waitForPostgres(config.DATABASE_URL, wait)]);
  if (nats.status === 'fulfilled' && postgres.status === 'fulfilled') return nats.value;
  if (nats.status === 'fulfilled') await nats.value.close().catch(() => undefined);
  throw nats.status === 'rejected' ? nats.reason : (postgres as PromiseRejectedResult).reason;
};

/**
 * Builds and starts one service (config, NATS, Nest with HTTP and the JetStream transport) and
 * returns it; throws `ConfigError` or `DependencyUnreachableError` when it cannot. Tests use it to
 * run a service in-process; `bootstrapService` wraps it for a real process.
 */
// In-process (tests), no module patching: the process's instrumentations are `main.ts`'s choice.
export const createServiceApp = async (spec: ServiceSpec, telemetry = startTelemetry({ serviceName: spec.name, instrumentations: [] })) => {
  const config = loadConfig(spec.envSchema ?? baseEnvSchema(spec.defaultPort), spec.env);
  // Credentials files are read (and checked) before anything connects: a bad one is a ConfigError.
  const login: NatsLogin = { options: natsAuthOf(config), identity: natsIdentityOf(config) };
  const nats = await waitForDependencies(config, spec.name, login);
  @Module({ imports: [RuntimeModule.forRoot({ serviceName: spec.name, config, telemetry, nats }), spec.module] })
  class ServiceRootModule {}

  const levels = LEVELS.slice(0, LEVELS.indexOf(config.LOG_LEVEL) + 1);
  const app = await NestFactory.create<NestExpressApplication>(ServiceRootModule, {
    logger: config.LOG_FORMAT === 'json' ? new JsonLogger(spec.name, levels) : levels,
    abortOnError: false,
    bodyParser: false, // no urlencoded parser: JSON bodies only (acceptJsonBodiesOnly)
  });
  acceptJsonBodiesOnly(app, spec.formPaths);
  // No ETag on responses: Express would hash every body (a ledger state is ~70 kB) for a header no
  // client of these APIs sends back; reads are answered fresh, as of the time they name.
  app.set('etag', false);
  const pool = app.get<Pool>(PG_POOL);
  const transport = new JetStreamTransport({
    serviceName: spec.name,
    servers: config.NATS_URL,
    auth: login.options,
    // Events whose source may not publish their type, or dated ahead, are dead-lettered, not handled.
    provenance: provenancePolicyOf(config),
    topology: topologyFor(config.CONTINUITY_NAMESPACE),
    ackWaitMs: config.JETSTREAM_ACK_WAIT_MS,
    streams: { replicas: config.NATS_REPLICAS },
    // Handlers that find a dependency down wait for these to answer (nothing is dead-lettered for it).
    probes: { postgres: () => probePostgres(pool), nats: () => nats.flush() },
    endpoints: endpointsOf({ postgres: config.DATABASE_URL, nats: config.NATS_URL }),
  });
  app.get(ReadinessChecks).register('consumers', async () => {
    const outages = transport.outages();
    if (outages.length === 0) return { status: 'up' };
    return { status: 'down', error: outages.map((o) => `waiting for ${o.dependency} since ${o.since} (${o.failures} failed attempts): ${o.reason}`).join('; ') };
  });
  // Full, the dead-letter stream refuses new dead letters (consumers then keep retrying): say so
  // while there is still room. A warning, not "down": the service still works.
  app.get(ReadinessChecks).register('dead-letters', async () => {
    const { bytes, maxBytes, fill } = await deadLetterFill(await jetstreamManager(nats), topologyFor(config.CONTINUITY_NAMESPACE));
    return fill < DEAD_LETTER_WARN_FILL
      ? { status: 'up' }
      : { status: 'up', warning: `the dead-letter stream is ${Math.round(fill * 100)} % full (${bytes} of ${maxBytes} bytes): replay or remove dead letters (npm run dlq) before it refuses new ones` };
  });
  let jsm: ReturnType<typeof jetstreamManager> | undefined;
  registerDeadLetterGauge(spec.name, topologyFor(config.CONTINUITY_NAMESPACE), () =>
    (jsm ??= jetstreamManager(nats).catch((error: unknown) => {
      jsm = undefined; // asked again at the next scrape
      throw error;
    })),
  );
  // The microservice inherits the app's global filter (it cannot register its own once connected).
  app.useGlobalFilters(new HttpErrorFilter());
  app.connectMicroservice({ strategy: transport }, { inheritAppConfig: true });
  try {
    await app.startAllMicroservices();
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error instanceof DependencyUnreachableError ? error : new DependencyUnreachableError('NATS', 'NATS_URL', config.NATS_URL, error);
  }
  spec.configure?.(app);
  await app.listen(config.PORT, config.HOST);
  return { app, config };
};

/**
 * Starts one service process: telemetry first, then config (a bad value stops the process with a
 * message naming the variable), then Nest with HTTP and the JetStream transport. SIGTERM/SIGINT
 * stop it gracefully: the transport finishes in-flight messages before connections close.
 */
export const bootstrapService = async (spec: ServiceSpec) => {
  // Before the configuration is read, so that even "cannot start" is a JSON line when asked for.
  if ((spec.env ?? process.env).LOG_FORMAT === 'json') Logger.overrideLogger(new JsonLogger(spec.name, LEVELS));
  const logger = new Logger(spec.name);
  const telemetry = startTelemetry({ serviceName: spec.name });
  try {
    const { app, config } = await createServiceApp(spec, telemetry);
    stopOnSignals(app, logger);
    logger.log(`${spec.name} listening on http://${config.HOST}:${config.PORT} (health: /health/ready, metrics: /metrics)`);
    return app;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof DependencyUnreachableError) {
      logger.error(`${spec.name} cannot start. ${error.message}`);
    } else {
      logger.error(`${spec.name} cannot start: ${(error as Error)?.stack ?? String(error)}`);
    }
    await telemetry.shutdown().catch(() => undefined);
    process.exit(1);
  }
};
