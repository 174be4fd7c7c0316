import { libpqConnection } from '@continuity/runtime/standalone';

/**
 * How to run a PostgreSQL client program (`pg_dump`, `pg_restore`) against `connection`: the
 * connection goes in `--dbname=` without its password, and the password in `PGPASSWORD` in the
 * child's environment. A command line is readable by every user of the host (`ps`,
 * `/proc/<pid>/cmdline`); a process's environment only by its owner and root.
 */
export const pgToolInvocation = (connection: string, args: readonly string[], baseEnv: NodeJS.ProcessEnv = process.env): { args: string[]; env: NodeJS.ProcessEnv } => {
  const { dbname, env } = libpqConnection(connection);
  return { args: [`--dbname=${dbname}`, ...args], env: { ...baseEnv, ...env } };
};

/**
 * `env` with a client program's messages untranslated (`LC_MESSAGES=C`), for what reads them:
 * `LC_ALL` would override `LC_MESSAGES`, and `LANGUAGE` too when `LC_ALL` is set to another locale
 * than C, so both are removed; a set `LC_ALL`'s locale stays the character set's (`LC_CTYPE`).
 */
export const untranslatedMessages = (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv => {
  const { LC_ALL, LANGUAGE: _language, ...rest } = env;
  return { ...rest, ...(LC_ALL ? { LC_CTYPE: LC_ALL } : {}), LC_MESSAGES: 'C' };
};
