import { chown, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fetchWalFile, WAL_FETCH_LOG, type RestorePlan } from '@continuity/artifacts/wal-restore';
import type { ArtifactKey } from '@continuity/artifacts/artifact';

/**
 * WAL fetched ahead of recovery. PostgreSQL asks its `restore_command` for one WAL file at a time
 * and waits; `continuity wal-fetch` is a Node process started per file (a fraction of a second
 * each, longer than replaying the file). From the moment the restore's target is allowed — while
 * the base backup is still being staged and verified — the plan's files are fetched in order, with
 * the same checks as wal-fetch (`fetchWalFile`: every copy's SHA-256, then the plaintext's), at
 * most `ahead` files beyond what PostgreSQL took: first into a folder of their own beside the data
 * directory (like the staging folder, only while the base backup is staged), then, once the data
 * directory is in place and before the server starts, moved into it (`continuity-wal-prefetch/`,
 * inside the 0700 data directory for all of recovery). The restore_command moves a prefetched file
 * into place and appends its fetch's log line (so the restore's report counts files PostgreSQL
 * took, not files fetched); a file the plan does not hold (the history files PostgreSQL probes for
 * at start and at promotion) is answered "not in the archive" by the shell at once, as wal-fetch
 * would answer it; anything else — not fetched yet, or after the folder is gone — goes to
 * wal-fetch. A file is renamed into the folder only whole, owned by the server's user.
 */

export const WAL_PREFETCH_DIR = 'continuity-wal-prefetch';

/** The folder the prefetch starts in, beside a data directory that does not exist yet. */
export const prefetchFolderBeside = (dataDir: string) => join(dirname(dataDir), `.${basename(dataDir)}.wal-prefetch-${randomBytes(4).toString('hex')}`);

/** The plan's file names, one a line, in the folder (a dot file: never counted as fetched). */
const PLAN_NAMES = '.plan-files';

/**
 * The restore_command around `walFetch` (shell words, before `%f %p`), run in the data directory:
 * a prefetched file first; "absent" for a name the plan's list does not hold (grep's 1, not an
 * error's 2); else wal-fetch.
 */
export const prefetchingRestoreCommand = (walFetch: string) => {
  const d = WAL_PREFETCH_DIR;
  return (
    `if [ -f ${d}/%f ]; then mv -f ${d}/%f %p && cat ${d}/%f.log >> ${WAL_FETCH_LOG} && rm -f ${d}/%f.log; ` +
    `elif [ -f ${d}/${PLAN_NAMES} ] && { grep -qxF %f ${d}/${PLAN_NAMES}; [ $? -eq 1 ]; }; then false; ` +
    `else ${walFetch} %f %p; fi`
  );
};

export interface WalPrefetchOptions {
  /** The data directory being restored (it may not exist yet): wal-fetch's log there says what PostgreSQL took. */
  dataDir: string;
  /** The folder the files are fetched into first (`prefetchFolderBeside(dataDir)`): made by `start`, moved by `moveInto`, removed by `stop`. */
  folder: string;
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
  folder: string;
  private stopping = false;
  private moving = false;
  /** The fetch of one file under way, if any (a move waits for it). */
  private inFlight: Promise<boolean> | null = null;
  private running: Promise<void> | null = null;
  /** Files fetched into the folder (taken or not). */
  fetched = 0;

  constructor(private readonly options: WalPrefetchOptions) {
    this.folder = options.folder;
  }

  async start() {
    await mkdir(this.folder, { mode: 0o700 });
    const names = join(this.folder, PLAN_NAMES);
    await writeFile(names, this.options.plan.files.map((f) => `${f.name}\n`).join(''), { mode: 0o600 });
    if (this.options.owner) {
      await chown(this.folder, this.options.owner.uid, this.options.owner.gid);
      await chown(names, this.options.owner.uid, this.options.owner.gid);
    }
    // A failure only ends prefetching: wal-fetch fetches (and reports) whatever is left.
    this.running = this.loop().catch(() => undefined);
  }

  /**
   * Moves the folder into the data directory (`continuity-wal-prefetch/`, where the restore_command
   * looks) once it is in place: fetching pauses, the file being fetched is finished, the folder is
   * renamed (same file system: both are in the target's parent), and fetching goes on there.
   */
  async moveInto(dataDir: string) {
    this.moving = true;
    try {
      await this.inFlight;
      const folder = join(dataDir, WAL_PREFETCH_DIR);
      await rename(this.folder, folder);
      this.folder = folder;
    } finally {
      this.moving = false;
    }
  }

  /** Stops fetching and removes the folder with whatever PostgreSQL did not take. */
  async stop() {
    this.stopping = true;
    await this.running;
    await rm(this.folder, { recursive: true, force: true });
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
    for (const name of await readdir(this.folder).catch(() => [] as string[])) {
      if (name.startsWith('.') || name.endsWith('.log')) continue;
      if (!taken.has(name)) waiting++;
      else await Promise.all([rm(join(this.folder, name), { force: true }), rm(join(this.folder, `${name}.log`), { force: true })]);
    }
    return waiting;
  }

  private async loop() {
    const ahead = this.options.ahead ?? 8;
    const poll = () => new Promise((r) => setTimeout(r, this.options.pollMs ?? 50));
    for (const file of this.options.plan.files) {
      while (!this.stopping && (this.moving || (await this.waiting()) >= ahead)) await poll();
      if (this.stopping) return;
      // Assigned before any await: a move that starts now waits for this file.
      const step = this.fetchOne(file.name);
      this.inFlight = step;
      const fetched = await step;
      this.inFlight = null;
      if (!fetched) return; // wal-fetch tries again when PostgreSQL asks, and says why
    }
  }

  /** Fetches one file into the folder; false when it could not be (the prefetch ends there). */
  private async fetchOne(name: string): Promise<boolean> {
    const { plan, owner } = this.options;
    if ((await this.taken()).has(name)) return true; // PostgreSQL was quicker
    const folder = this.folder;
    const temp = join(folder, `.${name}.fetching`);
    const outcome = await fetchWalFile(plan, name, temp, { read: this.options.read, identities: this.options.identities });
    if (outcome.outcome !== 'fetched') {
      await rm(temp, { force: true });
      return false;
    }
    const log = join(folder, `${name}.log`);
    await writeFile(log, `${JSON.stringify({ ...outcome, at: new Date().toISOString() })}\n`, { mode: 0o600 });
    if (owner) {
      await chown(temp, owner.uid, owner.gid);
      await chown(log, owner.uid, owner.gid);
    }
    await rename(temp, join(folder, name));
    this.fetched++;
    return true;
  }
}
