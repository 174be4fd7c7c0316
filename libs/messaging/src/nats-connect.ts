import { readFileSync, statSync } from 'node:fs';
import { connect, credsAuthenticator, nkeyAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';

/**
 * How a process proves who it is to NATS, from its environment. One of:
 * - `NATS_NKEY_SEED_FILE`: a file holding an nkey user seed (`SU…`), as `npm run nats:auth` writes
 *   one per identity; the server's `authorization` block lists the matching public key (`U…`);
 * - `NATS_CREDS`: a `.creds` file (JWT and seed), for servers run in operator/JWT mode;
 * - `NATS_USER` and `NATS_PASSWORD`: a user of the server's `authorization` block.
 * `NATS_CA` (a PEM file) is the CA the server's TLS certificate must chain to (`tls://` URLs).
 * None of them: no credentials (the local development server); services then say so once.
 */
export interface NatsAuthSettings {
  NATS_CREDS?: string;
  NATS_NKEY_SEED_FILE?: string;
  NATS_USER?: string;
  NATS_PASSWORD?: string;
  NATS_CA?: string;
}

/** A credentials setting that is missing, contradictory or unreadable; names the variable, never a secret. */
export class NatsCredentialsError extends Error {
  override readonly name = 'NatsCredentialsError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

export type NatsAuthOptions = Pick<NodeConnectionOptions, 'authenticator' | 'user' | 'pass' | 'tls'>;

const readSecretFile = (variable: string, path: string): Uint8Array => {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (error) {
    throw new NatsCredentialsError(variable, `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  // A seed readable by others is a leaked identity: refuse rather than use it.
  if ((mode & 0o077) !== 0) throw new NatsCredentialsError(variable, `${path} is readable by group or others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
  try {
    return new TextEncoder().encode(readFileSync(path, 'utf8').trim());
  } catch (error) {
    throw new NatsCredentialsError(variable, `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
};

/** Which kind of credentials the settings give, for a log line (never the secret itself); null: none. */
export const natsIdentityOf = (settings: NatsAuthSettings): string | null => {
  if (settings.NATS_NKEY_SEED_FILE) return 'an nkey (NATS_NKEY_SEED_FILE)';
  if (settings.NATS_CREDS) return 'a credentials file (NATS_CREDS)';
  if (settings.NATS_USER) return `user ${settings.NATS_USER} (NATS_USER)`;
  return null;
};

/**
 * The connection options for the settings' credentials and TLS: the one place every NATS
 * connection (services, their transport, remote object stores, the CLIs) gets them from. Files are
 * read here, once; a bad setting throws `NatsCredentialsError` naming the variable.
 */
export const natsAuthOptions = (settings: NatsAuthSettings): NatsAuthOptions => {
  const given = (['NATS_CREDS', 'NATS_NKEY_SEED_FILE', 'NATS_USER'] as const).filter((v) => settings[v]);
  if (given.length > 1) throw new NatsCredentialsError(given[1]!, `set only one of NATS_CREDS, NATS_NKEY_SEED_FILE or NATS_USER (also set: ${given[0]})`);
  if (settings.NATS_USER && !settings.NATS_PASSWORD) throw new NatsCredentialsError('NATS_PASSWORD', 'must be set with NATS_USER');
  if (settings.NATS_PASSWORD && !settings.NATS_USER) throw new NatsCredentialsError('NATS_USER', 'must be set with NATS_PASSWORD');
  const options: NatsAuthOptions = {};
  if (settings.NATS_NKEY_SEED_FILE) {
    const seed = readSecretFile('NATS_NKEY_SEED_FILE', settings.NATS_NKEY_SEED_FILE);
    if (!new TextDecoder().decode(seed).startsWith('SU')) throw new NatsCredentialsError('NATS_NKEY_SEED_FILE', `${settings.NATS_NKEY_SEED_FILE} does not hold an nkey user seed (SU…)`);
    options.authenticator = nkeyAuthenticator(seed);
  } else if (settings.NATS_CREDS) {
    options.authenticator = credsAuthenticator(readSecretFile('NATS_CREDS', settings.NATS_CREDS));
  } else if (settings.NATS_USER) {
    options.user = settings.NATS_USER;
    options.pass = settings.NATS_PASSWORD;
  }
  if (settings.NATS_CA) {
    try {
      statSync(settings.NATS_CA);
    } catch (error) {
      throw new NatsCredentialsError('NATS_CA', `cannot read ${settings.NATS_CA}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    options.tls = { caFile: settings.NATS_CA };
  }
  return options;
};

/** `nats://a:4222, nats://b:4222` → the list the client wants. */
export const natsServersOf = (servers: string | string[]) => (Array.isArray(servers) ? servers : servers.split(',')).map((s) => s.trim()).filter(Boolean);

/**
 * Connects with the given credentials (already turned into options by `natsAuthOptions`).
 * `noAsyncTraces`: the client otherwise builds an Error per request just for its stack trace.
 */
export const connectNats = (
  servers: string | string[],
  auth: NatsAuthOptions,
  options: Omit<NodeConnectionOptions, 'servers' | keyof NatsAuthOptions> = {},
): Promise<NatsConnection> => connect({ noAsyncTraces: true, ...options, ...auth, servers: natsServersOf(servers) });
