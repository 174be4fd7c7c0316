import { Logger } from '@nestjs/common';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Client } from 'pg';
import { classifyFailure, connectNats, endpointsOf, type NatsAuthOptions } from '@continuity/messaging';
import { HOW_TO_START, DependencyUnreachableError } from './unreachable.js';
import { redactUrl } from './config.js';

/**
 * A service started while NATS or PostgreSQL is down (a machine booting, `docker compose up`, a
 * restart during an outage) waits for them instead of exiting: up to `STARTUP_WAIT_MS`, saying
 * every few seconds what it waits for, where, and how to start it. Errors that waiting cannot fix
 * (a refused NATS login, no such database) are not waited for.
 */
export interface StartupWait {
  /** When to give up (epoch ms), shared by every dependency of one start. */
  deadline: number;
  waitMs: number;
  logger?: Pick<Logger, 'warn' | 'log'>;
  /** Between two "waiting for" lines. */
  logEveryMs?: number;
  /** Cap of the pause between attempts (it grows from 100 ms). */
  retryMaxMs?: number;
}

export interface Dependency<T> {
  dependency: 'NATS' | 'PostgreSQL';
  variable: string;
  url: string;
  /** One try, bounded in time; resolves with the open connection. */
  attempt: (timeoutMs: number) => Promise<T>;
  /** Whether waiting can help with this failure. */
  transient: (error: unknown) => boolean;
}

const secondsOf = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

export const waitForDependency = async <T>(dep: Dependency<T>, wait: StartupWait): Promise<T> => {
  const logger = wait.logger ?? new Logger('Startup');
  const started = Date.now();
  const where = `${dep.variable}=${redactUrl(dep.url)}`;
  let lastLog = -Infinity;
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await dep.attempt(Math.max(500, Math.min(5_000, wait.deadline - Date.now())));
      if (attempt > 0) logger.log(`${dep.dependency} at ${where} answered after ${secondsOf(Date.now() - started)}`);
      return result;
    } catch (error) {
      const reason = (error as Error)?.message ?? String(error);
      if (!dep.transient(error) || Date.now() >= wait.deadline) {
        const waited = dep.transient(error) && wait.waitMs > 0 ? ` (waited ${secondsOf(Date.now() - started)}; STARTUP_WAIT_MS=${wait.waitMs})` : '';
        throw new DependencyUnreachableError(dep.dependency, dep.variable, dep.url, error, waited);
      }
      if (Date.now() - lastLog >= (wait.logEveryMs ?? 5_000)) {
        lastLog = Date.now();
        logger.warn(
          `waiting for ${dep.dependency} at ${where} (${secondsOf(Date.now() - started)} so far, giving up after ${secondsOf(wait.waitMs)}: STARTUP_WAIT_MS): ${reason}. ${HOW_TO_START[dep.dependency]}`,
        );
      }
      const pause = Math.min(100 * 2 ** attempt, wait.retryMaxMs ?? 2_000, Math.max(0, wait.deadline - Date.now()));
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
};

/** Refusals that no amount of waiting fixes: the server answered and said no. */
const NATS_REFUSAL = /authorization|authentication|permission|user credentials|tls/i;

/** The credentials a connection uses (`natsAuthOf`) and what they are, for the log (null: none). */
export interface NatsLogin {
  options: NatsAuthOptions;
  identity: string | null;
}

export const ANONYMOUS: NatsLogin = { options: {}, identity: null };

/** The one line a process connected without credentials logs (the local development server). */
export const warnIfAnonymous = (login: NatsLogin, servers: string, logger: Pick<Logger, 'warn'>) => {
  if (login.identity) return;
  logger.warn(
    `connected to NATS at NATS_URL=${redactUrl(servers)} without credentials: fine for a local development server, but anyone who reaches it can publish any event (set NATS_NKEY_SEED_FILE, NATS_CREDS or NATS_USER/NATS_PASSWORD; docs/decisions/0019-nats-identities-and-permissions.md)`,
  );
};

/**
 * Connects to NATS once JetStream answers (in a cluster: once it has elected a meta leader), so
 * that the streams can be created right after.
 */
export const waitForNats = async (servers: string, name: string, wait: StartupWait, login: NatsLogin = ANONYMOUS): Promise<NatsConnection> => {
  const nc = await waitForDependency(
    {
      dependency: 'NATS',
      variable: 'NATS_URL',
      url: servers,
      attempt: async (timeoutMs) => {
        const nc = await connectNats(servers, login.options, { name, timeout: timeoutMs, maxReconnectAttempts: -1 });
        try {
          await jetstreamManager(nc, { timeout: timeoutMs });
          return nc;
        } catch (error) {
          await nc.close().catch(() => undefined);
          throw new Error(`connected, but JetStream does not answer: ${(error as Error).message}`, { cause: error });
        }
      },
      transient: (error) => !NATS_REFUSAL.test(String((error as Error)?.message)) && !NATS_REFUSAL.test(String(((error as Error)?.cause as Error)?.message)),
    },
    wait,
  );
  warnIfAnonymous(login, servers, wait.logger ?? new Logger('Startup'));
  return nc;
};

/**
 * Waits until PostgreSQL answers: the services migrate their schemas while Nest starts, which would
 * otherwise fail (and exit) against a server still down or starting up. A server that answers but
 * refuses (no such database, a wrong password) is not waited for, nor does it stop the start here:
 * what needs the database reports it (a service such as failover may not use it at all).
 */
export const waitForPostgres = (databaseUrl: string, wait: StartupWait): Promise<void> => {
  const endpoints = endpointsOf({ postgres: databaseUrl });
  const logger = wait.logger ?? new Logger('Startup');
  return waitForDependency(
    {
      dependency: 'PostgreSQL',
      variable: 'DATABASE_URL',
      url: databaseUrl,
      attempt: async (timeoutMs) => {
        const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: timeoutMs });
        client.on('error', () => undefined); // a server going away mid-attempt: the attempt fails, nothing more
        try {
          await client.connect();
          await client.query('select 1');
        } catch (error) {
          if (classifyFailure(error, endpoints).kind === 'transient') throw error;
          logger.warn(`PostgreSQL at DATABASE_URL=${redactUrl(databaseUrl)} answers but refuses: ${(error as Error).message}`);
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      transient: () => true,
    },
    wait,
  );
};
