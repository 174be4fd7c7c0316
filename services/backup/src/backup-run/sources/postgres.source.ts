import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { Client } from 'pg';
import type { PostgresResourceConfig } from '../../config/backup-config.schema.js';
import { SourceError, SourceRun } from './source.js';

const run = promisify(execFile);

/** `connection` with `database` as its database (URL or libpq key=value form). */
export const connectionFor = (resource: Pick<PostgresResourceConfig, 'connection' | 'database'>): string => {
  if (!resource.database) return resource.connection;
  if (/^postgres(ql)?:\/\//.test(resource.connection)) {
    const url = new URL(resource.connection);
    url.pathname = `/${encodeURIComponent(resource.database)}`;
    return url.toString();
  }
  return `${resource.connection} dbname='${resource.database.replace(/['\\]/g, '\\$&')}'`;
};

let pgDumpVersion: Promise<string> | null = null;
export const toolVersion = (tool: string) => run(tool, ['--version']).then(({ stdout }) => stdout.trim().replace(/^\S+ \(PostgreSQL\) /, ''));

/** Size of the database, for the progress bar (the dump is usually smaller: compressed). */
const databaseSize = async (connection: string): Promise<number | null> => {
  if (!/^postgres(ql)?:\/\//.test(connection)) return null;
  const client = new Client({ connectionString: connection, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ size: string }>('select pg_database_size(current_database())::text as size');
    return Number(rows[0]!.size);
  } catch {
    return null;
  } finally {
    await client.end().catch(() => undefined);
  }
};

/**
 * `pg_dump --format=custom` of one database, read from its stdout. The custom format is
 * compressed and is what `pg_restore` restores selectively and in parallel (from a file).
 */
export const startPostgresSource = async (resource: PostgresResourceConfig): Promise<SourceRun> => {
  const connection = connectionFor(resource);
  pgDumpVersion ??= toolVersion('pg_dump').catch(() => 'unknown');
  const [version, expectedBytes] = await Promise.all([pgDumpVersion, databaseSize(connection)]);
  const child = spawn('pg_dump', ['--format=custom', '--no-password', `--dbname=${connection}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? '10' },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new SourceError(`cannot run pg_dump: ${error.message} (is PostgreSQL's client on PATH?)`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new SourceError(`pg_dump ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${stderr.trim() || 'no message'}`));
    });
  });
  exited.catch(() => undefined);
  return {
    kind: 'postgres',
    method: 'pg_dump-custom',
    extension: 'dump',
    stream: child.stdout,
    expectedBytes,
    tools: { pg_dump: version },
    done: () => exited,
    index: () => ({ files: null, skipped: [] }),
    cancel: () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    },
  };
};
