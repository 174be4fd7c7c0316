import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, type Pool } from 'pg';
import { redactSecrets } from '@continuity/runtime';
import type { InstanceLiveness } from '../liveness/instance-liveness.js';

export interface ScratchOptions {
  /**
   * A database URL on the server that hosts scratch databases: creates the restore role when it is
   * missing, and drops scratch databases.
   */
  adminUrl: string;
  /**
   * The role scratch databases are created, restored into and checked as (LOGIN CREATEDB, nothing
   * more). Connected to with the admin URL's password when it is the admin URL's own user, else
   * without one (trust, peer, certificate or a pass file).
   */
  restoreRole: string;
  /** Every scratch database and folder is named `<prefix><id>`. */
  prefix: string;
  /** Parent folder of scratch folders. */
  dir: string;
}

export interface ScratchDatabase {
  name: string;
  /** URL of the scratch database, as the restore role (never a superuser). */
  url: string;
  drop(): Promise<void>;
}

export interface ScratchDirectory {
  path: string;
  remove(): Promise<void>;
}

export class ScratchError extends Error {
  override readonly name = 'ScratchError';
  readonly code = 'VERIFY.SCRATCH_FAILED';
}

/** The role restores would run as could act as a superuser or on the database host's files and programs. */
export class RestoreRoleRefusedError extends Error {
  override readonly name = 'RestoreRoleRefusedError';
  readonly code = 'VERIFY.RESTORE_ROLE_REFUSED';
}

/**
 * Roles whose rights SQL inside an archive could use against the database host: superusers
 * (programs, any file), the three server-file roles, and CREATEROLE (which, up to PostgreSQL 15,
 * may grant itself those roles). `pg_has_role(…, 'MEMBER')` also counts roles it may `SET ROLE` to.
 */
const DANGEROUS_ROLES = `
  SELECT r.rolname, r.rolsuper, r.rolcreaterole FROM pg_roles r
   WHERE (r.rolsuper OR r.rolcreaterole OR r.rolname IN ('pg_read_server_files', 'pg_write_server_files', 'pg_execute_server_program'))
     AND pg_has_role(current_user, r.oid, 'MEMBER')
   ORDER BY r.rolname`;

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** `host:port` of a PostgreSQL URL, to tell servers apart in the records without keeping passwords. */
const serverOf = (url: string) => {
  const u = new URL(url);
  return `${u.hostname}:${u.port || '5432'}`;
};

/** rm -rf that also copes with read-only folders a restored tree may hold (when not root). */
const removeTree = async (path: string) => {
  try {
    await rm(path, { recursive: true, force: true, maxRetries: 3 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EACCES' && (error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
    const open = async (p: string) => {
      const stat = await lstat(p).catch(() => null);
      if (!stat?.isDirectory()) return;
      await chmod(p, 0o700).catch(() => undefined);
      for (const name of await readdir(p).catch(() => [] as string[])) await open(join(p, name));
    };
    await open(path);
    await rm(path, { recursive: true, force: true, maxRetries: 3 });
  }
};

/**
 * A base-backup restore test runs a scratch server in `<folder>/pgdata`: when its verifier died
 * mid-test the postmaster is still running there. It is stopped (SIGQUIT: immediate shutdown, then
 * SIGKILL) before the folder goes, and only when its pid file's process really is a server working
 * in that data directory (its cwd), so a reused pid is never signalled.
 */
const stopLeftoverServer = async (folder: string) => {
  const dataDir = join(folder, 'pgdata');
  const pid = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 1) return;
  const cwd = await realpath(`/proc/${pid}/cwd`).catch(() => null);
  if (!cwd || cwd !== (await realpath(dataDir).catch(() => null))) return;
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  process.kill(pid, 'SIGQUIT');
  for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(pid, 'SIGKILL');
};

/**
 * Scratch databases and folders for restore tests. Each is recorded (table `verifier.scratch`,
 * with its owner's instance id) *before* it is created and un-recorded only after it is gone, so a
 * crash at any point leaves a record; `sweep()` at start removes whatever dead owners left.
 * Nothing is ever dropped whose name lacks the configured prefix.
 */
export class Scratch {
  private readonly logger = new Logger('Scratch');
  /** Names in use by this process right now (its other records are leftovers of a failed removal). */
  private readonly active = new Set<string>();

  constructor(
    private readonly pool: Pool,
    private readonly liveness: InstanceLiveness,
    private readonly options: ScratchOptions,
  ) {}

  get prefix() {
    return this.options.prefix;
  }

  private newName(backupId: string) {
    return `${this.options.prefix}${backupId.replace(/-/g, '').slice(-12)}_${randomBytes(3).toString('hex')}`;
  }

  /** The restore role's URL for `database` (its own user; the admin's password only when it is the admin's user). */
  private urlOf(database: string | null) {
    const url = new URL(this.options.adminUrl);
    if (decodeURIComponent(url.username) !== this.options.restoreRole) {
      url.username = encodeURIComponent(this.options.restoreRole);
      url.password = '';
      url.searchParams.delete('password');
    }
    if (database !== null) url.pathname = `/${encodeURIComponent(database)}`;
    return url.toString();
  }

  private async admin<T>(work: (client: Client) => Promise<T>): Promise<T> {
    return this.connect(this.options.adminUrl, work);
  }

  private async asRestoreRole<T>(work: (client: Client) => Promise<T>): Promise<T> {
    return this.connect(this.urlOf(null), work);
  }

  private async connect<T>(connectionString: string, work: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client({ connectionString, connectionTimeoutMillis: 5_000 });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private async record(name: string, kind: 'database' | 'directory', location: string, backupId: string) {
    await this.pool.query('INSERT INTO verifier.scratch (name, kind, location, owner, backup_id) VALUES ($1, $2, $3, $4, $5)', [name, kind, location, this.liveness.instanceId, backupId]);
  }

  private async forget(name: string) {
    await this.pool.query('DELETE FROM verifier.scratch WHERE name = $1', [name]);
  }

  private async dropDatabase(name: string) {
    if (!name.startsWith(this.options.prefix)) throw new ScratchError(`refusing to drop ${name}: not a scratch database (prefix ${this.options.prefix})`);
    await this.admin((c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
    await this.forget(name);
  }

  private async removeDirectory(path: string, name: string) {
    if (!name.startsWith(this.options.prefix)) throw new ScratchError(`refusing to remove ${path}: not a scratch folder (prefix ${this.options.prefix})`);
    await stopLeftoverServer(path);
    await removeTree(path);
    await this.forget(name);
  }

  /** Removal when a test is done: a failure is logged, not thrown (the record stays; `sweep` retries). */
  private release(name: string, remove: () => Promise<void>) {
    return async () => {
      try {
        await remove();
      } catch (error) {
        this.logger.warn(`could not remove scratch ${name} (will retry): ${redactSecrets((error as Error).message)}`);
      } finally {
        this.active.delete(name);
      }
    };
  }

  /** Creates the restore role when it is missing: LOGIN CREATEDB, explicitly nothing more. */
  private async ensureRestoreRole() {
    const role = this.options.restoreRole;
    await this.admin(async (c) => {
      const { rowCount } = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      if (rowCount) return;
      try {
        await c.query(`CREATE ROLE ${quoteIdent(role)} LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS`);
        this.logger.log(`created role ${role} (LOGIN CREATEDB) for scratch restores`);
      } catch (error) {
        // Another verifier created it at the same moment: fine.
        const code = (error as { code?: string }).code;
        if (code === '42710' || code === '23505') return;
        throw new ScratchError(`role ${role} (VERIFIER_RESTORE_ROLE) does not exist and cannot be created: ${(error as Error).message}; create it with LOGIN CREATEDB only`, { cause: error });
      }
    });
  }

  /**
   * The restore role, as it connects: refused when it is, or may become, a superuser or a member of
   * the server-file roles. Asked before every restore, as the role itself (`current_user`), so a
   * role granted more rights since the last test is refused too.
   */
  private async checkRestoreRole(client: Client) {
    const { rows } = await client.query<{ rolname: string; rolsuper: boolean; rolcreaterole: boolean }>(DANGEROUS_ROLES);
    if (!rows.length) return;
    const role = this.options.restoreRole;
    // A superuser is a member of every role: that it is one says it all.
    const rights = rows.some((r) => r.rolname === role && r.rolsuper)
      ? ['it is a superuser']
      : rows.map((r) => (r.rolname === role ? 'it has CREATEROLE' : `it can act as ${r.rolname}${r.rolsuper ? ' (a superuser)' : ''}`));
    throw new RestoreRoleRefusedError(
      `refused to restore as role ${role}: ${[...new Set(rights)].join(', ')}. SQL inside an archive runs with the rights of the role restoring it (programs and files on the database host); set VERIFIER_RESTORE_ROLE to a role with LOGIN CREATEDB only`,
    );
  }

  /** Once per process (again after a failure): the restore role exists. */
  private roleReady: Promise<void> | null = null;
  private prepareRestoreRole() {
    if (!this.roleReady) {
      this.roleReady = this.ensureRestoreRole();
      this.roleReady.catch(() => (this.roleReady = null));
    }
    return this.roleReady;
  }

  /**
   * An empty database (from template0) of this process's own, created and owned by the restore role
   * (refused, with `RestoreRoleRefusedError`, when that role is a superuser or could act as one);
   * `drop()` always, when done.
   */
  async database(backupId: string): Promise<ScratchDatabase> {
    await this.prepareRestoreRole();
    const name = this.newName(backupId);
    this.active.add(name);
    try {
      await this.record(name, 'database', serverOf(this.options.adminUrl), backupId);
    } catch (error) {
      this.active.delete(name);
      throw error;
    }
    try {
      await this.asRestoreRole(async (c) => {
        await this.checkRestoreRole(c);
        await c.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`);
      });
    } catch (error) {
      this.active.delete(name);
      await this.forget(name).catch(() => undefined);
      if (error instanceof RestoreRoleRefusedError || error instanceof ScratchError) throw error;
      throw new ScratchError(`cannot create scratch database ${name} on ${serverOf(this.options.adminUrl)} as role ${this.options.restoreRole}: ${redactSecrets((error as Error).message)}`, { cause: error });
    }
    return { name, url: this.urlOf(name), drop: this.release(name, () => this.dropDatabase(name)) };
  }

  /** An empty folder (mode 0700) of this process's own; `remove()` always, when done. */
  async directory(backupId: string): Promise<ScratchDirectory> {
    const name = this.newName(backupId);
    const path = join(this.options.dir, name);
    this.active.add(name);
    try {
      await this.record(name, 'directory', path, backupId);
    } catch (error) {
      this.active.delete(name);
      throw error;
    }
    try {
      await mkdir(this.options.dir, { recursive: true });
      await mkdir(path, { mode: 0o700 });
    } catch (error) {
      this.active.delete(name);
      await this.forget(name).catch(() => undefined);
      throw new ScratchError(`cannot create scratch folder ${path}: ${(error as Error).message}`, { cause: error });
    }
    return { path, remove: this.release(name, () => this.removeDirectory(path, name)) };
  }

  /**
   * Removes the scratch databases and folders of verifier processes that are gone (crashed or
   * killed mid-test), and this process's own whose removal failed earlier. Run at start, before any
   * verification, then now and then; what a live process is using is left alone.
   */
  async sweep(): Promise<{ databases: string[]; directories: string[] }> {
    const { rows } = await this.pool.query<{ name: string; kind: 'database' | 'directory'; location: string; owner: string }>(
      'SELECT name, kind, location, owner FROM verifier.scratch ORDER BY created_at',
    );
    const removed = { databases: [] as string[], directories: [] as string[] };
    const alive = new Map<string, boolean>();
    for (const row of rows) {
      if (row.owner === this.liveness.instanceId) {
        if (this.active.has(row.name)) continue;
      } else {
        if (!alive.has(row.owner)) alive.set(row.owner, await this.liveness.isAlive(row.owner));
        if (alive.get(row.owner)) continue;
      }
      try {
        if (row.kind === 'database') {
          if (row.location !== serverOf(this.options.adminUrl)) {
            this.logger.warn(`scratch database ${row.name} is on ${row.location}, not on this verifier's scratch server ${serverOf(this.options.adminUrl)}: drop it there by hand`);
            continue;
          }
          await this.dropDatabase(row.name);
          removed.databases.push(row.name);
        } else {
          await this.removeDirectory(row.location, row.name);
          removed.directories.push(row.location);
        }
      } catch (error) {
        this.logger.warn(`could not remove leftover scratch ${row.kind} ${row.name}: ${redactSecrets((error as Error).message)}`);
      }
    }
    return removed;
  }
}
