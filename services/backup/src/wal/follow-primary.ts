import type { NatsConnection } from '@nats-io/transport-node';
import { watchPrimary } from '@continuity/contracts';
import { redactSecrets } from '@continuity/runtime/standalone';
import type { LoggerLike } from '../backup-run/backup-runner.js';

/**
 * The configured connection moved to the primary a route record names: host and port replaced,
 * everything else (user, password, database, parameters) kept. Pure.
 */
export const connectionAt = (configured: string, primary: { host: string; port: number }): string => {
  if (/^postgres(ql)?:\/\//i.test(configured)) {
    const url = new URL(configured);
    url.hostname = primary.host.includes(':') && !primary.host.startsWith('[') ? `[${primary.host}]` : primary.host;
    url.port = String(primary.port);
    url.searchParams.delete('host');
    url.searchParams.delete('port');
    return url.toString();
  }
  const without = configured.replace(/(?:^|\s)(?:host|hostaddr|port)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/gi, '').trim();
  return `${without} host=${primary.host} port=${primary.port}`.trim();
};

/**
 * Follows the failover service's route record (`routes.<resource>`) for an archiver: each new
 * primary (epochs only grow: an older record is never followed) repoints it. A missing bucket
 * (the failover service not started yet) or a lost watch is retried every `retryMs`.
 */
export const followPrimary = (options: {
  nc: NatsConnection;
  resource: string;
  namespace: string;
  configured: string;
  repoint: (connection: string, why: string) => Promise<void>;
  logger: LoggerLike;
  retryMs?: number;
}): { stop(): void } => {
  let stopped = false;
  let watch: ReturnType<typeof watchPrimary> | null = null;
  let timer: NodeJS.Timeout | null = null;
  const run = async () => {
    while (!stopped) {
      try {
        watch = watchPrimary(options.nc, options.resource, { namespace: options.namespace });
        for await (const route of watch) {
          await options
            .repoint(connectionAt(options.configured, route), `the route names ${route.primary} (${route.host}:${route.port}, epoch ${route.epoch})`)
            .catch((error: Error) => options.logger.error(`WAL archive of ${options.resource}: following ${route.primary}: ${redactSecrets(error.message)}`));
        }
      } catch (error) {
        options.logger.warn(`WAL archive of ${options.resource}: cannot watch its route: ${(error as Error).message} (retrying)`);
      }
      if (stopped) return;
      await new Promise((resolve) => {
        timer = setTimeout(resolve, options.retryMs ?? 10_000);
        timer.unref();
      });
    }
  };
  void run();
  return {
    stop: () => {
      stopped = true;
      watch?.stop();
      if (timer) clearTimeout(timer);
    },
  };
};
