import { Client, type ClientConfig } from 'pg';
import { walFileFacts } from '@continuity/artifacts';
import { redactSecrets } from '@continuity/runtime/standalone';
import { clientConfigFor } from '../backup-run/sources/pg-tables.js';

/**
 * The SQL side of the WAL archive: the few questions and actions that need an ordinary session
 * with the resource (the slot's position, the oldest WAL left, restore points, the synchronous
 * setting). The connection is the policy's own (node-postgres: the password never reaches argv);
 * errors are redacted before anyone sees them.
 */
export const withSession = async <T>(connection: string, work: (client: Client) => Promise<T>): Promise<T> => {
  const client = new Client({ ...clientConfigFor(connection), connectionTimeoutMillis: 10_000, fallback_application_name: 'continuity-backup-wal' } as ClientConfig);
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await work(client);
  } catch (error) {
    throw new Error(redactSecrets((error as Error).message), { cause: error });
  } finally {
    await client.end().catch(() => undefined);
  }
};

export interface SlotState {
  existed: boolean;
  restartLsn: string | null;
}

export const slotState = (client: Client, slot: string): Promise<SlotState> =>
  client
    .query<{ restart_lsn: string | null }>('SELECT restart_lsn::text AS restart_lsn FROM pg_catalog.pg_replication_slots WHERE slot_name = $1', [slot])
    .then(({ rows }) => ({ existed: rows.length > 0, restartLsn: rows[0]?.restart_lsn ?? null }));

/**
 * The start of the oldest WAL segment left in pg_wal, whatever its timeline; null when the role
 * may not list it (pg_ls_waldir needs superuser or pg_monitor): gap detection then relies on the
 * slot alone.
 */
export const oldestWalOnServer = async (client: Client): Promise<string | null> => {
  const listed = await client
    .query<{ name: string }>(`SELECT name FROM pg_catalog.pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$' ORDER BY substr(name, 9) LIMIT 1`)
    .catch(() => null);
  const name = listed?.rows[0]?.name;
  return name ? walFileFacts(name).startLsn : null;
};

/** A named restore point: its WAL position and the timeline it is on (`pg_walfile_name` uses the server's current one). */
export const createRestorePoint = async (client: Client, name: string): Promise<{ lsn: string; timeline: number }> => {
  const { rows } = await client.query<{ lsn: string; file: string }>('SELECT lsn::text AS lsn, pg_catalog.pg_walfile_name(lsn) AS file FROM pg_catalog.pg_create_restore_point($1) AS lsn', [name]);
  return { lsn: rows[0]!.lsn, timeline: parseInt(rows[0]!.file.slice(0, 8), 16) };
};

/**
 * Makes commits wait for the archiver (`synchronous_standby_names` = its application_name).
 * `name` is a folded slot name (lower-case letters, digits, `_`), so it needs no escaping.
 */
export const requireSynchronousArchiver = async (client: Client, name: string): Promise<void> => {
  if (!/^[a-z0-9_]{1,63}$/.test(name)) throw new Error(`"${name}" is not a valid application_name for synchronous_standby_names`);
  await client.query(`ALTER SYSTEM SET synchronous_standby_names = '"${name}"'`);
  await client.query('SELECT pg_catalog.pg_reload_conf()');
};

/** The connection with `application_name` set: what synchronous_standby_names names the archiver by. */
export const withApplicationName = (connection: string, name: string): string => {
  if (/^postgres(ql)?:\/\//i.test(connection)) {
    const url = new URL(connection);
    url.searchParams.set('application_name', name);
    return url.toString();
  }
  return `${connection.replace(/(?:^|\s)application_name\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/i, '').trim()} application_name=${name}`;
};

/**
 * Creates the physical slot if it is missing, reserving WAL at once (`immediately_reserve`): a
 * new slot pins the WAL from its creation, so streaming (which starts from the slot when the
 * spool is empty) resumes exactly where the slot says. Needs the REPLICATION attribute.
 */
export const ensureSlot = async (client: Client, slot: string): Promise<void> => {
  try {
    await client.query(
      'SELECT pg_catalog.pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)',
      [slot],
    );
  } catch (error) {
    if ((error as { code?: string }).code !== '42710') throw error; // created meanwhile by another instance
  }
};

/** The server's current WAL position (a standby: what it replayed). */
export const currentWalLsn = async (client: Client): Promise<string> =>
  (
    await client.query<{ lsn: string }>(
      'SELECT (CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_lsn() END)::text AS lsn',
    )
  ).rows[0]!.lsn;
