import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, type Pool } from 'pg';
import type { InstanceLiveness } from '../liveness/instance-liveness.js';

export interface ScratchOptions {
  /** A database URL on the server that hosts scratch databases (the user needs CREATEDB). */
  adminUrl: string;
  /** Every scratch database and folder is named `<prefix><id>`. */
  prefix: string;
  /** Parent folder of scratch folders. */
  dir: string;
}

export interface ScratchDatabase {
  name: string;
  /** URL of the scratch database (same credentials as the admin URL). */
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

  private urlOf(database: string) {
    const url = new URL(this.options.adminUrl);
    url.pathname = `/${encodeURIComponent(database)}`;
    return url.toString();
  }

  private async admin<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client({ connectionString: this.options.adminUrl, connectionTimeoutMillis: 5_000 });
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
    await removeTree(path);
    await this.forget(name);
  }

  /** Removal when a test is done: a failure is logged, not thrown (the record stays; `sweep` retries). */
  private release(name: string, remove: () => Promise<void>) {
    return async () => {
      try {
        await remove();
      } catch (error) {
        this.logger.warn(`could not remove scratch ${name} (will retry): ${(error as Error).message}`);
      } finally {
        this.active.delete(name);
      }
    };
  }

  /** An empty database (from template0) of this process's own; `drop()` always, when done. */
  async database(backupId: string): Promise<ScratchDatabase> {
    const name = this.newName(backupId);
    this.active.add(name);
    try {
      await this.record(name, 'database', serverOf(this.options.adminUrl), backupId);
    } catch (error) {
      this.active.delete(name);
      throw error;
    }
    try {
      await this.admin((c) => c.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`));
    } catch (error) {
      this.active.delete(name);
      await this.forget(name).catch(() => undefined);
      throw new ScratchError(`cannot create scratch database ${name} on ${serverOf(this.options.adminUrl)}: ${(error as Error).message}`, { cause: error });
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
        this.logger.warn(`could not remove leftover scratch ${row.kind} ${row.name}: ${(error as Error).message}`);
      }
    }
    return removed;
  }
}
