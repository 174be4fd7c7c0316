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
