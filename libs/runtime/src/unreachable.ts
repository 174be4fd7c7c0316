import { redactUrl } from './config.js';

export const HOW_TO_START: Record<'NATS' | 'PostgreSQL', string> = {
  NATS:
    'start it with `nats-server -js` (Debian: start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server),' +
    ' or `docker compose up nats postgres`, or point NATS_URL at a running server',
  PostgreSQL:
    'start it with `pg_ctlcluster --skip-systemctl-redirect 15 main start`, or `docker compose up nats postgres`, or point DATABASE_URL at a running server',
};

/** A dependency the service cannot reach; says which, where, from which variable, and how to start it. */
export class DependencyUnreachableError extends Error {
  override readonly name = 'DependencyUnreachableError';
  constructor(
    readonly dependency: 'NATS' | 'PostgreSQL',
    readonly variable: string,
    readonly url: string,
    cause: unknown,
    /** How long the service waited for it, if it did (` (waited 120 s; STARTUP_WAIT_MS=120000)`). */
    waited = '',
  ) {
    super(
      `${dependency} is not reachable at ${variable}=${redactUrl(url)}: ${(cause as Error)?.message ?? String(cause)}${waited}\n` +
        `  ${HOW_TO_START[dependency]}`,
      { cause },
    );
  }
}
