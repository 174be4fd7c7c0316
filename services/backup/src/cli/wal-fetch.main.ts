#!/usr/bin/env node
import { createReadStream } from 'node:fs';
import { appendFile, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import type { Readable } from 'node:stream';
// The modules it needs, not the library's index (manifest schemas, event contracts, age): PostgreSQL
// starts this program once per WAL file, so what it loads is paid once per 16 MiB replayed.
import { artifactPath, type ArtifactKey } from '@continuity/artifacts/artifact';
import {
  fetchWalFile,
  isWalFileName,
  parseRestorePlan,
  RESTORE_PLAN_FILE,
  WAL_FETCH_LOG,
  type PlanLocation,
  type RestorePlan,
  type WalFetchOutcome,
} from '@continuity/artifacts/wal-restore';

/**
 * `continuity wal-fetch <file> <dest> [--plan <path>]`: PostgreSQL's `restore_command` in a
 * point-in-time restore (`%f %p`). Kept apart from the CLI's other commands so each of the many
 * calls during recovery starts fast (no service graph, no catalogue, no NATS unless a copy is in
 * an object store, then with the credentials `natsSettings` finds). It reads the restore plan (default: `continuity-restore-plan.json` in the
 * working directory, which PostgreSQL sets to the data directory), fetches the file from its
 * copies with hash checks, and appends what happened to `continuity-wal-fetch.log` beside the
 * plan. Exit 0: fetched; 1: not archived, or no copy usable (PostgreSQL then ends recovery
 * there, and the restore reports it); 2: refused (a name that is not a WAL file, a destination
 * outside the data directory, a bad plan or key).
 */

const err = (line: string) => process.stderr.write(`continuity wal-fetch: ${line}\n`);

export class WalFetchUsageError extends Error {}

/** A destination inside the working directory only (PostgreSQL's `%p` is `pg_wal/…`, relative). */
const safeDestination = (dest: string) => {
  if (isAbsolute(dest) || normalize(dest).split(/[\\/]/).includes('..')) throw new WalFetchUsageError(`destination "${dest}" is outside the data directory: refused`);
  return resolve(dest);
};

/**
 * The NATS credentials of object-store copies, for the one function every NATS client takes them
 * from (`natsAuthOptions`): this process's environment when it names an identity (the server's
 * environment: the restore passes its own to the server it starts), otherwise the credential
 * files the plan recorded. A password is never in the plan: only the environment gives one.
 */
export const natsSettings = (plan: Pick<RestorePlan, 'nats'>, env: NodeJS.ProcessEnv) => {
  const fromEnv = env.NATS_CREDS || env.NATS_NKEY_SEED_FILE || env.NATS_USER;
  const settings = fromEnv
    ? { NATS_CREDS: env.NATS_CREDS, NATS_NKEY_SEED_FILE: env.NATS_NKEY_SEED_FILE, NATS_USER: env.NATS_USER, NATS_PASSWORD: env.NATS_PASSWORD }
    : { NATS_CREDS: plan.nats?.NATS_CREDS, NATS_NKEY_SEED_FILE: plan.nats?.NATS_NKEY_SEED_FILE };
  return { ...settings, NATS_CA: env.NATS_CA || plan.nats?.NATS_CA };
};

const readers = (plan: RestorePlan) => {
  const opened = new Map<string, Promise<{ read(key: ArtifactKey): Promise<Readable>; close(): Promise<void> }>>();
  const open = (location: PlanLocation) => {
    if (location.kind === 'filesystem') {
      return Promise.resolve({
        read: (key: ArtifactKey) =>
          new Promise<Readable>((ok, fail) => {
            const stream = createReadStream(join(location.path, artifactPath(key)));
            stream.once('open', () => ok(stream)).once('error', fail);
          }),
        close: async () => undefined,
      });
    }
    return (async () => {
      // Only when a copy is in an object store: NATS is loaded and connected then.
      const { connectNats, natsAuthOptions } = await import('@continuity/messaging/nats');
      const { ObjectStoreLocation } = await import('../backup-run/locations/object-store.location.js');
      const nc = await connectNats(location.natsUrl, natsAuthOptions(natsSettings(plan, process.env)), { name: 'continuity-wal-fetch', timeout: 5_000 });
      const store = new ObjectStoreLocation(location.name, '-', '-', location.bucket, nc, { ownsConnection: true });
      return { read: (key: ArtifactKey) => store.read(key), close: () => store.close() };
    })();
  };
  return {
    read: async (name: string, key: ArtifactKey) => {
      const location = plan.locations.find((l) => l.name === name);
      if (!location) throw new Error(`location "${name}" is not in the restore plan`);
      if (!opened.has(name)) opened.set(name, open(location));
      return (await opened.get(name)!).read(key);
    },
    close: async () => {
      for (const reader of opened.values()) await (await reader.catch(() => null))?.close().catch(() => undefined);
    },
  };
};

export const walFetch = async (args: string[]): Promise<number> => {
  const planAt = args.indexOf('--plan');
  const planPath = resolve(planAt >= 0 ? args[planAt + 1] ?? '' : RESTORE_PLAN_FILE);
  const positional = planAt < 0 ? args : args.filter((_, i) => i !== planAt && i !== planAt + 1);
  const [name, dest] = positional;
  try {
    if (!name || !dest || positional.length !== 2) throw new WalFetchUsageError('usage: continuity wal-fetch <WAL file name> <destination> [--plan <file>]');
    // The name comes from whoever runs us: only PostgreSQL's own file names, never a path.
    if (!isWalFileName(name)) throw new WalFetchUsageError(`"${name}" is not a WAL file name (24 hex digits, or <timeline>.history): refused`);
    const destination = safeDestination(dest);
    const plan = parseRestorePlan(await readFile(planPath, 'utf8').catch((error: Error) => Promise.reject(new WalFetchUsageError(`cannot read the restore plan ${planPath}: ${error.message}`))));
    let identities: string[] = [];
    const log = (outcome: WalFetchOutcome) => appendFile(join(dirname(planPath), WAL_FETCH_LOG), `${JSON.stringify({ ...outcome, at: new Date().toISOString() })}\n`, { mode: 0o600 });
    const copies = readers(plan);
    try {
      let outcome: WalFetchOutcome;
      try {
        if (plan.encryption) {
          const { loadAgeKey } = await import('@continuity/artifacts/keys');
          identities = (await loadAgeKey(plan.encryption.keyFile)).identities;
          if (!identities.length) throw new Error(`${plan.encryption.keyFile} holds no AGE-SECRET-KEY: the archive of ${plan.resource} is encrypted`);
        }
        outcome = await fetchWalFile(plan, name, destination, { read: copies.read, identities });
      } catch (error) {
        // Whatever keeps a file of the plan from being fetched (the key unreadable, …) must reach the restore's report.
        outcome = plan.files.some((f) => f.name === name) ? { outcome: 'failed', name, refused: [{ location: '-', error: (error as Error).message }] } : { outcome: 'absent', name };
        if (outcome.outcome === 'absent') err((error as Error).message);
      }
      await log(outcome);
      if (outcome.outcome === 'fetched') {
        for (const r of outcome.refused) err(`${name}: refused copy ${r.location}: ${r.error}; used ${outcome.copy}`);
        return 0;
      }
      if (outcome.outcome === 'failed') err(`${name}: no copy can be used (${outcome.refused.map((r) => `${r.location}: ${r.error}`).join('; ')})`);
      return 1;
    } finally {
      await copies.close();
    }
  } catch (error) {
    if (error instanceof WalFetchUsageError || (error as { code?: string }).code === 'RESTORE.PLAN_INVALID') {
      err((error as Error).message);
      return 2;
    }
    err((error as Error).message);
    return 1;
  }
};

if (require.main === module) {
  void walFetch(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
