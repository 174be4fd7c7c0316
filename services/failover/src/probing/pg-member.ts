import { Client } from 'pg';
import type { MemberEndpoint } from '../config/failover-config.loader.js';
import { parseLsn } from './lsn.js';
import { unquotableRole, withFence, withoutFence } from './pg-hba-fence.js';
import type { Observation, ReplicationRow } from './observation.js';

/** An action on a member failed; `member` and `action` say which. */
export class MemberActionError extends Error {
  override readonly name = 'MemberActionError';
  readonly code = 'FAILOVER.MEMBER_ACTION_FAILED';
  constructor(
    readonly member: string,
    readonly action: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${action} on ${member} failed: ${message}`, options);
  }
}

const PROBE_SQL = `select pg_is_in_recovery() as in_recovery,
  case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end as current_lsn,
  pg_last_wal_receive_lsn()::text as receive_lsn,
  pg_last_wal_replay_lsn()::text as replay_lsn,
  current_setting('default_transaction_read_only') = 'on' as read_only,
  current_setting('synchronous_standby_names') as sync_names,
  case when pg_is_in_recovery() then null else
    (select coalesce(json_agg(json_build_object('name', application_name, 'state', state, 'syncState', sync_state) order by application_name), '[]'::json)
       from pg_stat_replication) end as replication`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One PostgreSQL member of a protected resource, as the failover service talks to it: a fresh
 * connection per call with a short connect and statement timeout, so a stopped or unreachable
 * server costs at most the timeout and a hung socket never outlives the call.
 *
 * A fresh connection per probe is deliberate: a postmaster that is stopped (SIGSTOP, a hung
 * host) still has live backends, so a kept-open session would keep answering while no new
 * client can connect.
 */
export class PgMember {
  constructor(
    readonly endpoint: MemberEndpoint,
    private readonly probeTimeoutMs: number,
  ) {}

  get name() {
    return this.endpoint.name;
  }

  /** What the decider needs to know; never throws (a failure is an observation too). `at` = start of the probe. */
  async probe(now: () => number = Date.now): Promise<Observation> {
    const at = now();
    try {
      const row = await this.withClient(this.probeTimeoutMs, async (client) => (await client.query(PROBE_SQL)).rows[0]);
      return {
        member: this.name,
        at,
        reachable: true,
        inRecovery: row.in_recovery === true,
        ...(row.current_lsn ? { currentLsn: row.current_lsn as string } : {}),
        ...(row.receive_lsn ? { receiveLsn: row.receive_lsn as string } : {}),
        ...(row.replay_lsn ? { replayLsn: row.replay_lsn as string } : {}),
        ...(row.read_only === true ? { readOnly: true } : {}),
        // What synchronous mode needs, from a primary only (a standby's setting means nothing until promoted).
        ...(row.in_recovery === false ? { synchronousStandbyNames: row.sync_names as string, replication: row.replication as ReplicationRow[] } : {}),
      };
    } catch (error) {
      return { member: this.name, at, reachable: false, error: describe(error, this.probeTimeoutMs) };
    }
  }

  /** `pg_last_wal_receive_lsn()` / `pg_last_wal_replay_lsn()` of a standby (null when none). */
  async walPositions(timeoutMs = this.probeTimeoutMs): Promise<{ receiveLsn: string | null; replayLsn: string | null }> {
    return this.run('read WAL positions', timeoutMs, async (client) => {
      const { rows } = await client.query('select pg_last_wal_receive_lsn()::text as receive, pg_last_wal_replay_lsn()::text as replay');
      return { receiveLsn: rows[0].receive ?? null, replayLsn: rows[0].replay ?? null };
    });
  }

  /**
   * `pg_promote(wait => true)`: resolves once the member is out of recovery; throws when it is
   * not (the caller then checks whether it promoted anyway).
   */
  async promote(timeoutMs: number): Promise<void> {
    const waitSeconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    await this.run('pg_promote', timeoutMs + 2_000, async (client) => {
      const { rows } = await client.query('select pg_promote(wait => true, wait_seconds => $1) as promoted', [waitSeconds]);
      if (rows[0].promoted !== true) throw new Error(`pg_promote returned false: not promoted within ${waitSeconds} s`);
    });
  }

  /**
   * Proves the member accepts writes: a read-write transaction that takes a transaction id and
   * commits (a commit record in its WAL). Touches no table. Retries until `deadlineMs`.
   * Returns the member's WAL position after the write.
   */
  async confirmWritable(deadlineMs: number): Promise<string> {
    let lastError: unknown;
    while (Date.now() < deadlineMs) {
      try {
        return await this.withClient(this.probeTimeoutMs, async (client) => {
          await client.query('begin transaction read write');
          await client.query('select txid_current()');
          await client.query('commit');
          return (await client.query('select pg_current_wal_lsn()::text as lsn')).rows[0].lsn as string;
        });
      } catch (error) {
        lastError = error;
        await sleep(20);
      }
    }
    throw new MemberActionError(this.name, 'confirm writable', describe(lastError, this.probeTimeoutMs), { cause: lastError });
  }

  /**
   * Fences a member: new transactions default to read-only (`ALTER SYSTEM`, so it survives a
   * restart; `pg_reload_conf()` applies it now), and every other client session is ended so no
   * transaction that started read-write can still commit. A client could still ask for a
   * read-write transaction explicitly: the route record, not this, is what keeps clients away.
   */
  async makeReadOnly(timeoutMs = 5_000): Promise<void> {
    await this.run('make read-only', timeoutMs, async (client) => {
      await client.query('alter system set default_transaction_read_only = on');
      await client.query('select pg_reload_conf()');
      await client.query(
        `select pg_terminate_backend(pid, 1000) from pg_stat_activity
          where backend_type = 'client backend' and pid <> pg_backend_pid()`,
      );
    });
    await this.waitUntilInForce('default_transaction_read_only', 'on', 'make read-only', timeoutMs);
  }

  /**
   * Fences a former primary so that no application can write to it, whatever it sets for its own
   * session: every role that can log in, other than superusers and the role this service connects
   * as, has its connections refused by reject rules put first in pg_hba.conf (see pg-hba-fence.ts);
   * then the server is made read-only and every client session ended (`makeReadOnly`), so none
   * opened before the reload survives. The rules are a file, so they hold across restarts until
   * `unfence`. Needs a superuser (pg_read_file / COPY … TO a server file). Returns the roles refused
   * and those that could not be named in pg_hba.conf (their connections are not refused).
   */
  async fence(why: string, timeoutMs = 5_000): Promise<{ refused: string[]; notRefused: { role: string; reason: string }[] }> {
    const roles = await this.run('refuse application connections', timeoutMs, async (client) => {
      const { rows } = await client.query<{ rolname: string }>(
        'select rolname from pg_roles where rolcanlogin and not rolsuper and rolname <> current_user order by rolname',
      );
      const all = rows.map((r) => r.rolname);
      const refused = all.filter((r) => !unquotableRole(r));
      await this.editHba(client, (content) => withFence(content, refused, why));
      return { refused, notRefused: all.filter((r) => unquotableRole(r)).map((role) => ({ role, reason: unquotableRole(role)! })) };
    }).catch(async (error: unknown) => {
      // No file access (not a superuser), say: the read-only default is still better than nothing.
      await this.makeReadOnly(timeoutMs).catch(() => undefined);
      throw error;
    });
    // Ends the sessions opened before the reload too, and waits until new sessions see it.
    await this.makeReadOnly(timeoutMs);
    await this.waitUntilRefused(roles.refused[0], Date.now() + timeoutMs);
    return roles;
  }

  /** Undoes `fence`: the reject rules leave pg_hba.conf and new sessions write by default again. */
  async unfence(timeoutMs = 5_000): Promise<void> {
    await this.run('let application connections in', timeoutMs, (client) => this.editHba(client, withoutFence));
    await this.makeWritable(timeoutMs);
  }

  /**
   * Rewrites pg_hba.conf through SQL: read it (`pg_read_file`), write the edited text back with
   * `COPY … TO` the same file and read it again to check it is exactly what was meant; then check
   * PostgreSQL parses every line (`pg_hba_file_rules`) before `pg_reload_conf()`, and put the old
   * text back if it does not (a file it cannot parse would keep the old rules, or stop a restart).
   */
  private async editHba(client: Client, edit: (content: string) => string): Promise<void> {
    const file = (await client.query<{ f: string }>("select current_setting('hba_file') as f")).rows[0]!.f;
    const before = await readServerFile(client, file);
    const after = edit(before);
    if (after === before) return;
    await writeServerFile(client, file, after);
    const { rows: errors } = await client.query<{ line_number: number; error: string }>('select line_number, error from pg_hba_file_rules where error is not null');
    if (errors.length) {
      await writeServerFile(client, file, before);
      throw new Error(`${file} would not parse after the edit, so it was left as it was (${errors.map((e) => `line ${e.line_number}: ${e.error}`).join('; ')})`);
    }
    await client.query('select pg_reload_conf()');
  }

  /**
   * After a reload the postmaster applies the new rules to connections it accepts from then on:
   * waits until a connection as `role` (no password) is rejected by pg_hba.conf rather than by
   * authentication. Without a role to try, the read-only check in `makeReadOnly` (same reload) stands.
   */
  private async waitUntilRefused(role: string | undefined, deadlineMs: number): Promise<void> {
    if (role === undefined) return;
    const url = new URL(this.endpoint.connection);
    url.username = encodeURIComponent(role);
    url.password = '';
    let last = '';
    while (Date.now() < deadlineMs) {
      const client = new Client({ connectionString: url.toString(), connectionTimeoutMillis: this.probeTimeoutMs, application_name: 'continuity-failover' });
      client.on('error', () => undefined);
      try {
        await client.connect();
        last = `${role} could still connect`;
      } catch (error) {
        last = describe(error, this.probeTimeoutMs);
        if (/pg_hba\.conf rejects connection/.test(last)) return;
      } finally {
        void client.end().catch(() => undefined);
      }
      await sleep(20);
    }
    throw new MemberActionError(this.name, 'refuse application connections', `connections of ${role} not refused after the reload (${last})`);
  }

  /**
   * Sets the primary's `synchronous_standby_names` (`ALTER SYSTEM`, so it survives a restart;
   * `pg_reload_conf()` applies it) and waits until new sessions see it: an empty value releases
   * every commit waiting for a standby at once. ALTER SYSTEM writes no WAL, so it never waits itself.
   */
  async setSynchronousStandbyNames(value: string, timeoutMs = 5_000): Promise<void> {
    await this.run('set synchronous_standby_names', timeoutMs, async (client) => {
      await client.query(`alter system set synchronous_standby_names = ${client.escapeLiteral(value)}`);
      await client.query('select pg_reload_conf()');
    });
    await this.waitUntilInForce('synchronous_standby_names', value, 'set synchronous_standby_names', timeoutMs);
  }

  /** The reload reaches new sessions once the postmaster has re-read its files: waits until a new session sees `value`. */
  private async waitUntilInForce(setting: string, value: string, action: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const current = () => this.run(`check ${setting}`, timeoutMs, async (c) => (await c.query('select current_setting($1) as v', [setting])).rows[0].v as string);
    while ((await current()) !== value) {
      if (Date.now() > deadline) throw new MemberActionError(this.name, action, `${setting} is not ${JSON.stringify(value)} after the reload`);
      await sleep(20);
    }
  }

  /** Undoes `makeReadOnly` (an abandoned switchover hands the primary back). */
  async makeWritable(timeoutMs = 5_000): Promise<void> {
    await this.run('make writable', timeoutMs, async (client) => {
      await client.query('alter system reset default_transaction_read_only');
      await client.query('select pg_reload_conf()');
    });
  }

  /** The primary's `pg_current_wal_lsn()`. */
  async currentLsn(timeoutMs = this.probeTimeoutMs): Promise<string> {
    return this.run('pg_current_wal_lsn', timeoutMs, async (client) => (await client.query('select pg_current_wal_lsn()::text as lsn')).rows[0].lsn as string);
  }

  /** Waits until this standby has replayed `lsn`; throws at `deadlineMs`. */
  async waitForReplay(lsn: string, deadlineMs: number): Promise<string> {
    const target = parseLsn(lsn);
    let last: string | null = null;
    while (Date.now() < deadlineMs) {
      last = (await this.walPositions().catch(() => null))?.replayLsn ?? last;
      if (last !== null && parseLsn(last) >= target) return last;
      await sleep(20);
    }
    throw new MemberActionError(this.name, 'wait for replay', `replayed ${last ?? 'nothing known'}, needed ${lsn}`);
  }

  /** Points this standby at a new primary (`primary_conninfo`, applied by reload: PostgreSQL ≥ 13). */
  async followPrimary(conninfo: string, timeoutMs = 5_000): Promise<void> {
    await this.run('set primary_conninfo', timeoutMs, async (client) => {
      await client.query(`alter system set primary_conninfo = ${client.escapeLiteral(conninfo)}`);
      await client.query('select pg_reload_conf()');
    });
  }

  private async run<T>(action: string, timeoutMs: number, fn: (client: Client) => Promise<T>): Promise<T> {
    try {
      return await this.withClient(timeoutMs, fn);
    } catch (error) {
      throw new MemberActionError(this.name, action, describe(error, timeoutMs), { cause: error });
    }
  }

  private async withClient<T>(timeoutMs: number, fn: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client({
      connectionString: this.endpoint.connection,
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      application_name: 'continuity-failover',
    });
    // A socket error after we gave up must not become an unhandled 'error' event.
    client.on('error', () => undefined);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ProbeTimeout(timeoutMs)), timeoutMs + 50);
    });
    try {
      return await Promise.race([
        (async () => {
          await client.connect();
          return fn(client);
        })(),
        deadline,
      ]);
    } finally {
      clearTimeout(timer);
      void client.end().catch(() => undefined);
    }
  }
}

const readServerFile = async (client: Client, file: string): Promise<string> => (await client.query<{ c: string }>('select pg_read_file($1) as c', [file])).rows[0]!.c;

/**
 * Replaces a server-side text file through `COPY … TO` and checks it reads back exactly. COPY writes
 * CSV with a unit separator as delimiter and a record separator as quote, so no character of an
 * ordinary line is escaped or quoted; empty lines go out as NULL (written as nothing).
 */
const writeServerFile = async (client: Client, file: string, content: string): Promise<void> => {
  const lines = content.replace(/\r/g, '').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const array = `array[${lines.map((l) => client.escapeLiteral(l)).join(', ')}]::text[]`;
  await client.query(
    `copy (select nullif(line, '') from unnest(${array}) with ordinality as l(line, n) order by n)
       to ${client.escapeLiteral(file)} with (format csv, delimiter e'\\x1f', quote e'\\x1e')`,
  );
  const written = await readServerFile(client, file);
  if (written !== `${lines.join('\n')}\n`) throw new Error(`${file} does not read back as written`);
};

class ProbeTimeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

const describe = (error: unknown, timeoutMs: number): string => {
  if (error instanceof ProbeTimeout) return error.message;
  // Duck-typed: errors from Node's own modules come from another realm under Jest's VM.
  const message = typeof (error as { message?: unknown })?.message === 'string' ? (error as Error).message : String(error);
  if (/timeout expired|Connection terminated due to connection timeout|Query read timeout/i.test(message)) return `no answer within ${timeoutMs} ms (${message})`;
  const code = (error as { code?: string })?.code;
  return code && !message.includes(code) ? `${message} (${code})` : message || String(code ?? 'unknown error');
};

/**
 * The libpq conninfo a standby streams from `primary` with: the member's `replicationConnection`
 * when configured, else host, port, user and password of its connection URL.
 */
export const primaryConninfoFor = (primary: MemberEndpoint, standbyName: string): string => {
  const quote = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (primary.replicationConnection) {
    return /application_name\s*=/.test(primary.replicationConnection)
      ? primary.replicationConnection
      : `${primary.replicationConnection} application_name=${quote(standbyName)}`;
  }
  const url = new URL(primary.connection);
  const parts = [`host=${quote(decodeURIComponent(url.hostname))}`, `port=${url.port || '5432'}`];
  if (url.username) parts.push(`user=${quote(decodeURIComponent(url.username))}`);
  if (url.password) parts.push(`password=${quote(decodeURIComponent(url.password))}`);
  parts.push(`application_name=${quote(standbyName)}`);
  return parts.join(' ');
};
