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
