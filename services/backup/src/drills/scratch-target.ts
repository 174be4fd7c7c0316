import { randomBytes } from 'node:crypto';
import { lstat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';
import { redactSecrets } from '@continuity/runtime/standalone';

/**
 * The isolated target a drill restores into, made unique per drill so it can never be the
 * resource's own database or directory, and dropped afterwards whatever happened.
 */
export interface ScratchTarget {
  kind: 'postgres' | 'directory';
  /** What the restore is given: a postgres:// URL or an absolute directory. */
  to: string;
  /** For events and logs. */
  redacted: string;
  /** Drops it (idempotent: nothing there is fine); says whether it is gone. */
  remove(): Promise<boolean>;
  /** Whether anything of it exists now (a test's "nothing left behind"). */
  exists(): Promise<boolean>;
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Drops a scratch target recorded by `to` (a drill abandoned mid-step): true when it is gone. */
export const removeScratch = async (to: string): Promise<boolean> => {
  if (to.startsWith('/')) {
    if (!/\/drill-[0-9a-f]+$/.test(to)) return false; // only what a drill made
    await rm(to, { recursive: true, force: true, maxRetries: 5 });
    return true;
  }
  const url = new URL(to);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/_[0-9a-f]{12}$/.test(database)) return false; // only what a drill made
  url.pathname = '/postgres';
  const client = new Client({ connectionString: url.toString(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
};

/** `scratch` is the drill configuration's `postgres://…/<prefix>` or an absolute directory. */
export const scratchTargetFor = (scratch: string, drillId: string): ScratchTarget => {
  const suffix = `${drillId.replace(/-/g, '').slice(-8)}${randomBytes(2).toString('hex')}`;
  if (scratch.startsWith('/')) {
    const dir = join(scratch, `drill-${suffix}`);
    return {
      kind: 'directory',
      to: dir,
      redacted: dir,
      remove: async () => {
        await rm(dir, { recursive: true, force: true, maxRetries: 5 });
        return true;
      },
      exists: async () => (await lstat(dir).catch(() => null)) !== null,
    };
  }
  const url = new URL(scratch);
  const database = `${decodeURIComponent(url.pathname.replace(/^\//, ''))}_${suffix}`;
  url.pathname = `/${database}`;
  const admin = new URL(url.toString());
  admin.pathname = '/postgres';
  const withAdmin = async <T>(work: (client: Client) => Promise<T>): Promise<T> => {
    const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  return {
    kind: 'postgres',
    to: url.toString(),
    redacted: redactSecrets(url.toString()),
    // FORCE ends sessions a check may have left (PostgreSQL 13+).
    remove: async () => {
      try {
        await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`));
        return true;
      } catch {
        // Unreachable: if it was never reached nothing was created; if it became unreachable mid-drill, the caller says so.
        return false;
      }
    },
    exists: () => withAdmin(async (c) => ((await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount ?? 0) > 0),
  };
};
