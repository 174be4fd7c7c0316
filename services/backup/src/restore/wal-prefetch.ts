import { chown, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fetchWalFile, WAL_FETCH_LOG, type RestorePlan } from '@continuity/artifacts/wal-restore';
import type { ArtifactKey } from '@continuity/artifacts/artifact';

/**
 * WAL fetched ahead of recovery. PostgreSQL asks its `restore_command` for one WAL file at a time
 * and waits; `continuity wal-fetch` is a Node process started per file (a fraction of a second
 * each, longer than replaying the file). While the restore follows recovery it fetches the plan's
 * files in order into `continuity-wal-prefetch/` in the data directory, with the same checks as
 * wal-fetch (`fetchWalFile`: every copy's SHA-256, then the plaintext's), at most `ahead` files
 * beyond what PostgreSQL took. The restore_command moves a prefetched file into place and appends
 * its fetch's log line (so the restore's report counts files PostgreSQL took, not files fetched);
 * any other file — not fetched yet, not in the plan, a history file after promotion — goes to
 * wal-fetch as before. A file is renamed into the folder only whole, owned by the server's user.
 */

export const WAL_PREFETCH_DIR = 'continuity-wal-prefetch';

/** The restore_command around `walFetch` (shell words, before `%f %p`): a prefetched file first. */
export const prefetchingRestoreCommand = (walFetch: string) =>
  `if [ -f ${WAL_PREFETCH_DIR}/%f ]; then mv -f ${WAL_PREFETCH_DIR}/%f %p && cat ${WAL_PREFETCH_DIR}/%f.log >> ${WAL_FETCH_LOG} && rm -f ${WAL_PREFETCH_DIR}/%f.log; ` +
  `else ${walFetch} %f %p; fi`;

export interface WalPrefetchOptions {
  dataDir: string;
  plan: RestorePlan;
  read(location: string, key: ArtifactKey): Promise<Readable>;
  identities: readonly string[];
  /** The server's OS user when we are root: the files must be its own. */
  owner: { uid: number; gid: number } | null;
  /** Files fetched and not yet taken, at most. */
  ahead?: number;
  pollMs?: number;
}

export class WalPrefetcher {
  private readonly dir: string;
  private stopping = false;
  private running: Promise<void> | null = null;
  /** Files fetched into the folder (taken or not). */
  fetched = 0;

  constructor(private readonly options: WalPrefetchOptions) {
    this.dir = join(options.dataDir, WAL_PREFETCH_DIR);
  }

  async start() {
    await mkdir(this.dir, { mode: 0o700 });
    if (this.options.owner) await chown(this.dir, this.options.owner.uid, this.options.owner.gid);
    // A failure only ends prefetching: wal-fetch fetches (and reports) whatever is left.
    this.running = this.loop().catch(() => undefined);
  }

  /** Stops fetching and removes the folder with whatever PostgreSQL did not take. */
  async stop() {
    this.stopping = true;
    await this.running;
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The files PostgreSQL already got through wal-fetch (its log in the data directory, a JSON line a call). */
  private async taken(): Promise<Set<string>> {
    const text = await readFile(join(this.options.dataDir, WAL_FETCH_LOG), 'utf8').catch(() => '');
    const names = new Set<string>();
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const entry = JSON.parse(line) as { outcome?: unknown; name?: unknown };
        if (entry.outcome === 'fetched' && typeof entry.name === 'string') names.add(entry.name);
      } catch {
        // a line still being written
      }
    }
    return names;
  }

  /**
   * Files fetched and not yet taken. One PostgreSQL got through wal-fetch meanwhile (recovery
   * caught up with the prefetch) will never be asked for again: it is removed, not counted, so
   * stale files never hold the prefetch back.
   */
  private async waiting() {
    const taken = await this.taken();
    let waiting = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (name.startsWith('.') || name.endsWith('.log')) continue;
      if (!taken.has(name)) waiting++;
      else await Promise.all([rm(join(this.dir, name), { force: true }), rm(join(this.dir, `${name}.log`), { force: true })]);
    }
    return waiting;
  }

  private async loop() {
    const { plan, owner } = this.options;
    const ahead = this.options.ahead ?? 8;
    for (const file of plan.files) {
      while (!this.stopping && (await this.waiting()) >= ahead) await new Promise((r) => setTimeout(r, this.options.pollMs ?? 50));
      if (this.stopping) return;
      if ((await this.taken()).has(file.name)) continue; // PostgreSQL was quicker
      const temp = join(this.dir, `.${file.name}.fetching`);
      const outcome = await fetchWalFile(plan, file.name, temp, { read: this.options.read, identities: this.options.identities });
      if (outcome.outcome !== 'fetched') {
        await rm(temp, { force: true });
        return; // wal-fetch tries again when PostgreSQL asks, and says why
      }
      const log = join(this.dir, `${file.name}.log`);
      await writeFile(log, `${JSON.stringify({ ...outcome, at: new Date().toISOString() })}\n`, { mode: 0o600 });
      if (owner) {
        await chown(temp, owner.uid, owner.gid);
        await chown(log, owner.uid, owner.gid);
      }
      await rename(temp, join(this.dir, file.name));
      this.fetched++;
    }
  }
}
