import { availableParallelism } from 'node:os';
import { Client, type Pool, type PoolClient } from 'pg';

/** Runs `work` in one transaction on a pooled client: committed if it resolves, rolled back if it throws. */
export const inTransaction = async <T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> => {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
};

/**
 * Runs schema DDL (`CREATE … IF NOT EXISTS`) under a session advisory lock named `lock`: two
 * processes starting at once would otherwise race in PostgreSQL's catalogue (the loser fails on
 * `pg_type`'s unique index although its `IF NOT EXISTS` said it would not create anything).
 */
export const migrateUnderLock = async (pool: Pool, lock: string, ddl: string): Promise<void> => {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [lock]);
    await client.query(ddl);
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lock]).catch(() => undefined);
    client.release();
  }
};

/** Runs `work` on a short-lived connection (administrative statements such as CREATE DATABASE). */
export const withConnection = async <T>(connectionString: string, work: (client: Client) => Promise<T>): Promise<T> => {
  const client = new Client({ connectionString });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
};

/**
 * `pg_restore --jobs` when none is configured: one per core, at most 4 (more connections than that
 * mostly wait on each other's I/O and the largest table's index build).
 */
export const defaultRestoreJobs = (cores: number = availableParallelism()): number => Math.max(1, Math.min(4, cores));

/**
 * The environment of a `pg_restore` into a database the restore itself created (a verifier scratch
 * database, a new database the backup service fills): `PGOPTIONS` with `synchronous_commit=off`, a
 * per-session setting any role may use, for every connection pg_restore opens (`--jobs` workers
 * too). pg_restore commits each archive entry on its own, and each commit would wait for its WAL to
 * reach disk; nothing reads that database before the restore ends, so none has to. A crash then
 * loses the last commits of a database that is either dropped after its test or not yet reported
 * restored (`flushCommits` first). The caller's own `PGOPTIONS` come last, so they win.
 */
export const newDatabaseRestoreEnv = (base: string | undefined = process.env.PGOPTIONS): { PGOPTIONS: string } => ({
  PGOPTIONS: ['-c synchronous_commit=off', base?.trim()].filter(Boolean).join(' '),
});

/**
 * Returns once every commit the server has made so far is on disk: a transaction that holds an id
 * commits, here with the server's own `synchronous_commit`, and its commit flushes the WAL up to
 * its record, with every asynchronous commit before it.
 */
export const flushCommits = (connectionString: string): Promise<void> =>
  withConnection(connectionString, async (client) => {
    await client.query('SELECT pg_current_xact_id()');
  });
