/**
 * Where a restore may go (pure): a resource's `restoreTargets` are directories (the target must be
 * one of them or inside one, compared after the adapter has resolved both to real paths) and
 * PostgreSQL servers with a database name pattern (`postgres://[user@]host[:port]/orders_restore*`).
 *
 * A PostgreSQL target is matched on host, port and database name; a user in the rule must be the
 * target's user (a request cannot pick a more privileged role), and the target's credentials are
 * otherwise not looked at: they only authenticate, they never widen the match. Only query
 * parameters that cannot point the connection elsewhere are accepted (libpq's `host=`, `port=`,
 * `dbname=`, `service=`, … would override what was matched), and the connection is then rebuilt
 * from the parts that were matched, so no other parser can read a different server out of it.
 */

export interface PostgresEndpoint {
  /** Lower-cased host name or IP address (IPv6 in brackets); never resolved through DNS. */
  host: string;
  port: number;
  user: string | null;
  password: string | null;
  /** A name, or for a rule a pattern where `*` stands for any characters. */
  database: string;
  params: [string, string][];
}

/** Query parameters that change how, not where, the connection is made. */
const SAFE_PARAMS = ['sslmode', 'connect_timeout', 'application_name'];
const HOST = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])$/;
export const POSTGRES_URL = /^postgres(ql)?:\/\//;

const decode = (text: string): string | null => {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
};

/** Parses a target (or, with `rule`, a configured pattern); an error names what is wrong without echoing a password. */
export const parsePostgresEndpoint = (text: string, options: { rule?: boolean } = {}): PostgresEndpoint | { error: string } => {
  if (!POSTGRES_URL.test(text)) return { error: 'must be a postgres:// URL' };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { error: 'is not a valid URL (one host and one port: libpq host lists are not accepted)' };
  }
  const host = url.hostname.toLowerCase();
  if (!host) return { error: 'must name the server (postgres://host:port/database)' };
  if (!HOST.test(host)) return { error: `host "${host}" must be one host name or IP address` };
  const database = decode(url.pathname.replace(/^\//, ''));
  if (!database) return { error: 'must name the database (postgres://host:port/database)' };
  let password = url.password ? decode(url.password) : null;
  if (options.rule && password !== null) return { error: 'must not carry a password: it names where restores may go, the request brings its own credentials' };
  const params: [string, string][] = [];
  for (const [key, value] of url.searchParams) {
    if (options.rule) return { error: `must not carry query parameters ("${key}"): it is matched on host, port, user and database only` };
    if (key === 'password') password ??= value;
    else if (SAFE_PARAMS.includes(key)) params.push([key, value]);
    else return { error: `parameter "${key}" is not accepted in a restore target (only ${SAFE_PARAMS.join(', ')}): it could point the connection elsewhere` };
  }
  return { host, port: url.port ? Number(url.port) : 5432, user: url.username ? decode(url.username) : null, password, database, params };
};

/** The URL of exactly the parts that were matched (and the password, to authenticate). */
export const postgresUrlOf = (endpoint: PostgresEndpoint): string => {
  const url = new URL(`postgres://${endpoint.host}:${endpoint.port}/`);
  if (endpoint.user) url.username = encodeURIComponent(endpoint.user);
  if (endpoint.password) url.password = encodeURIComponent(endpoint.password);
  url.pathname = `/${encodeURIComponent(endpoint.database)}`;
  for (const [key, value] of endpoint.params) url.searchParams.append(key, value);
  return url.toString();
};

const globMatches = (pattern: string, name: string) =>
  new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's').test(name);

export const postgresRuleMatches = (rule: PostgresEndpoint, target: PostgresEndpoint): boolean =>
  rule.host === target.host && rule.port === target.port && (rule.user === null || rule.user === target.user) && globMatches(rule.database, target.database);

/** `path` is `root` or inside it; both are absolute real paths. */
export const isInside = (root: string, path: string): boolean => path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
