/**
 * Tells a failure that can succeed later (a dependency down, restarting or overloaded) from one
 * that never will (the event or the data is wrong). Pure: it reads only the error, its `cause`,
 * a TypeORM `driverError` and an `AggregateError`'s `errors`.
 *
 * - transient: retried without limit while the service reports the dependency not ready;
 * - permanent: dead-lettered at once, with the reason (a redelivery cannot fix it);
 * - unknown: retried a bounded number of times while every dependency is healthy, then
 *   dead-lettered (a bug that throws the same way every time ends there).
 */
export type Dependency = 'postgres' | 'nats' | 'disk' | 'host' | 'network';

export type FailureClass =
  | { kind: 'transient'; dependency: Dependency; reason: string }
  | { kind: 'permanent'; reason: string }
  | { kind: 'unknown'; reason: string };

/** Node's system error codes for a peer that is down, unreachable or slow. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ENETRESET', 'EAI_AGAIN']);
const DISK_CODES = new Set(['ENOSPC', 'EDQUOT']);
const HOST_CODES = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'ENOMEM']);

/**
 * PostgreSQL SQLSTATEs a later attempt can get past: connection exceptions (08), serialization
 * failure and deadlock (40001, 40P01), insufficient resources such as disk full or too many
 * connections (53), lock not available (55P03), shutting down, crashed or starting up (57P01–57P03),
 * a server in recovery that refuses writes (25006), I/O errors (58).
 */
const PG_TRANSIENT = /^(08...|40001|40P01|53...|55P03|57P0[1-4]|25006|58...)$/;
/** Data exceptions (22), constraint violations (23), invalid names or syntax (42): the same every time. */
const PG_PERMANENT = /^(22...|23...|42...|2BP01|0A000)$/;
/** node-postgres says these without a SQLSTATE when the server or the network goes away. */
const PG_CLIENT_TRANSIENT = /connection terminated|timeout exceeded when trying to connect|connection is not established|not queryable|server closed the connection/i;

/** @nats-io error names for a connection that is closed, draining, timing out or has no responders. */
const NATS_TRANSIENT_NAMES = new Set(['ConnectionError', 'ClosedConnectionError', 'DrainingConnectionError', 'TimeoutError', 'NoResponders', 'NoRespondersError', 'RequestError', 'JetStreamNotEnabled']);
/** Our own contract violations: an event that does not match its schema never will. */
const PERMANENT_CODES = /^CONTRACT\./;

type ErrorLike = {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  status?: unknown;
  severity?: unknown;
  transient?: unknown;
  dependency?: unknown;
  cause?: unknown;
  driverError?: unknown;
  errors?: unknown;
};

const describe = (error: ErrorLike): string => {
  const message = typeof error.message === 'string' ? error.message : String(error);
  const name = typeof error.name === 'string' && error.name !== 'Error' ? `${error.name}: ` : '';
  return `${name}${message}`;
};

const DEPENDENCIES = new Set<Dependency>(['postgres', 'nats', 'disk', 'host', 'network']);

/**
 * Where the service's own dependencies listen (`127.0.0.1:5432` → postgres), so that a socket error
 * (node-postgres reports an unreachable server with the socket's own error, as does everything
 * else) is blamed on the right one.
 */
export type Endpoints = ReadonlyMap<string, Dependency>;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** `host:port` keys for `endpoints`, from connection URLs (`postgres://u@db:5432/x`, `nats://a:4222,nats://b:4222`). */
export const endpointsOf = (urls: Partial<Record<Dependency, string>>, defaultPorts: Partial<Record<Dependency, number>> = { postgres: 5432, nats: 4222 }): Endpoints => {
  const endpoints = new Map<string, Dependency>();
  for (const [dependency, list] of Object.entries(urls) as [Dependency, string | undefined][]) {
    for (const raw of (list ?? '').split(',').map((u) => u.trim()).filter(Boolean)) {
      try {
        const url = new URL(raw.includes('://') ? raw : `x://${raw}`);
        const port = url.port || String(defaultPorts[dependency] ?? '');
        const host = LOOPBACK.has(url.hostname) ? 'loopback' : url.hostname;
        endpoints.set(`${host}:${port}`, dependency);
      } catch {
        // An unparsable URL names no endpoint; the service's config check reports it.
      }
    }
  }
  return endpoints;
};

const endpointOf = (error: ErrorLike & { address?: unknown; port?: unknown }, endpoints: Endpoints | undefined): Dependency | undefined => {
  if (!endpoints || typeof error.port !== 'number') return undefined;
  const host = typeof error.address === 'string' && !LOOPBACK.has(error.address) ? error.address : 'loopback';
  return endpoints.get(`${host}:${error.port}`);
};

const classifyOne = (error: ErrorLike, endpoints: Endpoints | undefined): FailureClass | null => {
  const reason = describe(error);
  const code = typeof error.code === 'string' ? error.code : undefined;
  if (error.transient === true) {
    const dependency = DEPENDENCIES.has(error.dependency as Dependency) ? (error.dependency as Dependency) : 'network';
    return { kind: 'transient', dependency, reason };
  }
  if (code && NETWORK_CODES.has(code)) {
    const dependency = endpointOf(error, endpoints) ?? (/:5432\b/.test(reason) ? 'postgres' : 'network');
    return { kind: 'transient', dependency, reason };
  }
  if (code && DISK_CODES.has(code)) return { kind: 'transient', dependency: 'disk', reason };
  if (code && HOST_CODES.has(code)) return { kind: 'transient', dependency: 'host', reason };
  // A SQLSTATE: five characters on an error the server sent (node-postgres sets `severity`).
  if (code && /^[0-9A-Z]{5}$/.test(code) && typeof error.severity === 'string') {
    if (PG_TRANSIENT.test(code)) return { kind: 'transient', dependency: 'postgres', reason: `${reason} (SQLSTATE ${code})` };
    if (PG_PERMANENT.test(code)) return { kind: 'permanent', reason: `${reason} (SQLSTATE ${code})` };
    return null;
  }
  if (typeof error.name === 'string' && NATS_TRANSIENT_NAMES.has(error.name)) return { kind: 'transient', dependency: 'nats', reason };
  if (typeof error.message === 'string' && PG_CLIENT_TRANSIENT.test(error.message)) return { kind: 'transient', dependency: 'postgres', reason };
  if (code && PERMANENT_CODES.test(code)) return { kind: 'permanent', reason };
  // A DomainError saying the request itself is wrong (400, 422) will be wrong next time too.
  if (code && (error.status === 400 || error.status === 422)) return { kind: 'permanent', reason };
  if (code && error.status === 503) return { kind: 'transient', dependency: 'network', reason };
  return null;
};

/** The first cause that says what it is, searched breadth-first through causes (at most 32 errors). */
export const classifyFailure = (error: unknown, endpoints?: Endpoints): FailureClass => {
  const queue: unknown[] = [error];
  const seen = new Set<unknown>();
  while (queue.length > 0 && seen.size < 32) {
    const next = queue.shift();
    if (next === null || typeof next !== 'object' || seen.has(next)) continue;
    seen.add(next);
    const candidate = next as ErrorLike;
    const found = classifyOne(candidate, endpoints);
    if (found) {
      // Keep the outer message (it says what was being done), with the cause that decided.
      return next === error || !(error instanceof Error) ? found : { ...found, reason: `${describe(error as ErrorLike)} (${found.reason})` };
    }
    queue.push(candidate.cause, candidate.driverError, ...(Array.isArray(candidate.errors) ? candidate.errors : []));
  }
  return { kind: 'unknown', reason: error !== null && typeof error === 'object' ? describe(error as ErrorLike) : String(error) };
};

/**
 * Marks a failure as one that can succeed later, naming the dependency, for errors the classifier
 * cannot recognise by themselves (a remote copy location answering "busy", a lease held elsewhere).
 */
export class TransientFailure extends Error {
  readonly transient = true;
  constructor(
    readonly dependency: Dependency,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransientFailure';
  }
}
