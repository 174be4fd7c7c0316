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
 * `maintenance_work_mem` of a restore's sessions when none is configured. A dump's indexes and
 * constraints are built after its data, each by one session sorting the whole table's keys: with
 * the server's usual 64MB a large table's sort spills to disk and is merged (measured on a 6M-row
 * primary key: 431MB sorted in memory; see decision 0049). Each of `--jobs` sessions may use this
 * much at once, and only while it builds an index, times the restores running at once on that
 * server (decision 0049 gives the worst case of each service).
 */
export const DEFAULT_RESTORE_MAINTENANCE_WORK_MEM = '512MB';

const KB_PER_UNIT = { kB: 1, MB: 1024, GB: 1024 * 1024 } as const;
/** Bounds of a restore's `maintenance_work_mem`: PostgreSQL's own minimum, and a ceiling no restore needs. */
export const RESTORE_MAINTENANCE_WORK_MEM_BOUNDS = { minKb: 1024, maxKb: 16 * 1024 * 1024 } as const;

/** A PostgreSQL memory setting written `<n>kB`, `<n>MB` or `<n>GB`, in kB; null when it is not one. */
export const memorySettingKb = (value: string): number | null => {
  const match = /^([1-9][0-9]{0,9})(kB|MB|GB)$/.exec(value);
  return match ? Number(match[1]) * KB_PER_UNIT[match[2] as keyof typeof KB_PER_UNIT] : null;
};

export class InvalidRestoreSettingError extends Error {
  override readonly name = 'InvalidRestoreSettingError';
  readonly code = 'RESTORE.INVALID_SETTING';
}

/** Why `value` cannot be a restore's `maintenance_work_mem`, or null when it can. */
export const restoreMaintenanceWorkMemProblem = (value: string): string | null => {
  const kb = memorySettingKb(value);
  const { minKb, maxKb } = RESTORE_MAINTENANCE_WORK_MEM_BOUNDS;
  if (kb === null) return 'must be a whole number of kB, MB or GB, such as 512MB';
  if (kb < minKb || kb > maxKb) return 'must be from 1MB to 16GB';
  return null;
};

export interface RestoreSessionSettings {
  /**
   * The restore created the target database (a verifier scratch database, a new database the backup
   * service fills): nothing reads it before the restore ends, so its commits need not wait for the
   * disk (`synchronous_commit=off`). A crash then loses the last commits of a database that is either
   * dropped after its test or not yet reported restored (`flushCommits` first). Into an existing
   * database the server's own durability applies.
   */
  newDatabase: boolean;
  /**
   * `maintenance_work_mem` of every session: the index and constraint builds after the data sort
   * in memory up to it (`<n>kB|MB|GB`, 1MB to 16GB). Null: the server's own.
   */
  maintenanceWorkMem: string | null;
}

/**
 * Throws `InvalidRestoreSettingError` when `value` cannot be a restore's `maintenance_work_mem`
 * (null: the server's own, always fine). Restorers call it when they are made, so a bad value given
 * to them directly is refused before any database is created, not after.
 */
export const assertRestoreMaintenanceWorkMem = (value: string | null): void => {
  const problem = value === null ? null : restoreMaintenanceWorkMemProblem(value);
  if (problem) throw new InvalidRestoreSettingError(`maintenance_work_mem of a restore ${problem} (got ${JSON.stringify(value!.slice(0, 40))})`);
};

/**
 * The environment of a `pg_restore`: `PGOPTIONS` with the session settings a restore is tuned with,
 * for every connection pg_restore opens (`--jobs` workers too). Both are per-session settings any
 * role may use, and they change what the server does to get there, not what is restored. The
 * caller's own `PGOPTIONS` come last, so they win. Throws `InvalidRestoreSettingError` for a memory
 * setting that is not one (it goes into `PGOPTIONS`, where a space would start another option).
 */
export const restoreSessionEnv = (settings: RestoreSessionSettings, base: string | undefined = process.env.PGOPTIONS): { PGOPTIONS: string } => {
  const { maintenanceWorkMem } = settings;
  assertRestoreMaintenanceWorkMem(maintenanceWorkMem);
  const options = [...(settings.newDatabase ? ['-c synchronous_commit=off'] : []), ...(maintenanceWorkMem === null ? [] : [`-c maintenance_work_mem=${maintenanceWorkMem}`])];
  return { PGOPTIONS: [...options, base?.trim()].filter(Boolean).join(' ') };
};

/**
 * Returns once every commit the server has made so far is on disk. A transaction commits with
 * `synchronous_commit = local`, whatever the connection's options or the role's and database's
 * settings say (`off` included): its commit flushes the WAL up to its record, with every
 * asynchronous commit before it. It must write WAL of its own — a commit that wrote none (only an
 * id taken, `pg_current_xact_id()`) is never flushed, whatever the setting — so it emits a
 * transactional logical-decoding message (prefix `continuity.flush`): WAL at any `wal_level`, any
 * role may, and no table is touched. `local`, not `on`: this server's disk is what is asked for,
 * not a synchronous standby's acknowledgement.
 */
export const flushCommits = (connectionString: string): Promise<void> =>
  withConnection(connectionString, async (client) => {
    await client.query("BEGIN; SET LOCAL synchronous_commit = local; SELECT pg_logical_emit_message(true, 'continuity.flush', ''); COMMIT");
  });
