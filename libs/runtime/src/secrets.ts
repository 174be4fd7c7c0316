/**
 * Secrets in connection strings: split out for PostgreSQL's client programs (argv is readable by
 * every user of the host through `ps`; the environment is not), and redacted wherever a URL or a
 * conninfo string may end up in a log, an error or an event.
 */

const REDACTED = '***';

/** `postgres://u:secret@h/db?password=x` → `postgres://u:***@h/db?password=***`; conninfo `password=x` too. */
export const redactSecrets = (text: string): string =>
  text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s/]*@/gi, `$1${REDACTED}@`)
    .replace(/([?&](?:password|pass|passwd|token|secret)=)[^&\s]*/gi, `$1${REDACTED}`)
    .replace(/(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']+)/gi, `$1${REDACTED}`);

/**
 * A PostgreSQL connection for `pg_dump`, `pg_restore`, `psql` …: `dbname` (for `--dbname=`) carries
 * no password; `env` carries it as `PGPASSWORD` (add it to the child's environment). A conninfo
 * string that is not a URL is passed through unchanged, without its `password=` part.
 */
export const libpqConnection = (connection: string): { dbname: string; env: Record<string, string> } => {
  if (/^postgres(ql)?:\/\//i.test(connection)) {
    const url = new URL(connection);
    const password = url.password ? decodeURIComponent(url.password) : url.searchParams.get('password');
    url.password = '';
    url.searchParams.delete('password');
    return { dbname: url.toString(), env: password ? { PGPASSWORD: password } : {} };
  }
  const match = /(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/i.exec(connection);
  if (!match) return { dbname: connection, env: {} };
  const raw = match[1]!;
  const password = raw.startsWith("'") ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
  return { dbname: connection.replace(match[0], '').trim(), env: { PGPASSWORD: password } };
};
