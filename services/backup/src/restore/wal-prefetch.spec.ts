import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, writeFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { RESTORE_PLAN_FORMAT, WAL_FETCH_LOG, zstdCompress, type RestorePlan } from '@continuity/artifacts';
import { prefetchFolderBeside, prefetchingRestoreCommand, WAL_PREFETCH_DIR, WalPrefetcher } from './wal-prefetch.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const collect = async (s: AsyncIterable<Buffer>) => {
  const parts: Buffer[] = [];
  for await (const chunk of s) parts.push(chunk);
  return Buffer.concat(parts);
};
const names = [2, 3, 4, 5].map((n) => `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`);

/** PostgreSQL's side: the restore_command run by /bin/sh in the data directory with %f and %p filled in. */
const ask = (dataDir: string, command: string, name: string, env: NodeJS.ProcessEnv = process.env) =>
  spawnSync('/bin/sh', ['-c', command.replace(/%f/g, name).replace(/%p/g, 'pg_wal/RECOVERYXLOG')], { cwd: dataDir, encoding: 'utf8', env });

describe('WAL prefetch: fetched ahead with wal-fetch checks, moved into place by restore_command', () => {
  let dir: string;
  /** The prefetch folder, beside the data directory `dir` (a name with a space and a quote: the command quotes it). */
  let folder: string;
  let plan: RestorePlan;
  const plain = new Map<string, Buffer>();
  const stored = new Map<string, Buffer>();
  let reads: string[];

  beforeAll(async () => {
    for (const [i, name] of names.entries()) {
      plain.set(name, Buffer.alloc(32 * 1024, i + 1));
      stored.set(name, await collect(zstdCompress(Readable.from([plain.get(name)!]))));
    }
    plan = {
      format: RESTORE_PLAN_FORMAT,
      resource: 'db',
      backupId: 'b',
      target: { kind: 'latest', value: null },
      recordsFrom: 'test',
      encryption: null,
      locations: [{ name: 'a', kind: 'filesystem', path: '/a' }],
      files: names.map((name) => ({
        name,
        timeline: 1,
        startLsn: '0/0',
        endLsn: '0/0',
        partial: false,
        plaintextSha256: sha(plain.get(name)!),
        plaintextSizeBytes: plain.get(name)!.length,
        // The third file's only copy is damaged: prefetching stops there and leaves it to wal-fetch.
        copies: [{ location: 'a', sha256: name === names[2] ? sha(Buffer.from('other')) : sha(stored.get(name)!), sizeBytes: stored.get(name)!.length }],
      })),
    };
  });
  beforeEach(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'wal-prefetch-')), "data dir's");
    mkdirSync(join(dir, 'pg_wal'), { recursive: true });
    folder = prefetchFolderBeside(dir);
    reads = [];
  });
  const started: WalPrefetcher[] = [];
  afterEach(async () => {
    // A test that failed half-way leaves no prefetcher reading into the next one's `reads`.
    for (const fetcher of started.splice(0)) await fetcher.stop();
    rmSync(dirname(dir), { recursive: true, force: true });
  });

  const prefetcher = (ahead: number) => {
    const fetcher = new WalPrefetcher({
      dataDir: dir,
      folder,
      plan,
      read: async (_location, key) => {
        const name = key.backupId.split('/').pop()!;
        reads.push(name);
        return Readable.from([stored.get(name)!]);
      },
      identities: [],
      owner: null,
      ahead,
      pollMs: 5,
    });
    started.push(fetcher);
    return fetcher;
  };

  it('keeps at most `ahead` files waiting; the command hands over a prefetched file and logs it; others go to wal-fetch', async () => {
    const fetcher = prefetcher(1);
    await fetcher.start();
    expect(dirname(folder)).toBe(dirname(dir));
    const ready = async (name: string) => {
      for (let i = 0; i < 400 && !existsSync(join(fetcher.folder, name)); i++) await new Promise((r) => setTimeout(r, 5));
    };
    await ready(names[0]!);
    await new Promise((r) => setTimeout(r, 50));
    expect(reads).toEqual([names[0]]); // one waiting: no more fetched

    // The fallback stands in for wal-fetch: it says it was asked.
    // The data directory is in place: the folder moves into it, where the command looks.
    await fetcher.moveInto(dir);
    const inside = join(dir, WAL_PREFETCH_DIR);
    expect(fetcher.folder).toBe(inside);
    expect(existsSync(folder)).toBe(false);
    const command = prefetchingRestoreCommand('echo fallback');
    const first = ask(dir, command, names[0]!);
    expect(first.status).toBe(0);
    expect(first.stdout).toBe('');
    expect(readFileSync(join(dir, 'pg_wal', 'RECOVERYXLOG')).equals(plain.get(names[0]!)!)).toBe(true);
    const logged = readFileSync(join(dir, WAL_FETCH_LOG), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { outcome: string; name: string; copy: string });
    expect(logged).toEqual([expect.objectContaining({ outcome: 'fetched', name: names[0], copy: 'a' })]);

    await ready(names[1]!);
    expect(ask(dir, command, names[1]!).stdout).toBe('');
    // The damaged one is not prefetched (nor anything after it): wal-fetch is asked, and says why.
    for (let i = 0; i < 400 && reads.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
    expect(ask(dir, command, names[2]!).stdout.trim()).toBe(`fallback ${names[2]} pg_wal/RECOVERYXLOG`);
    // A name the plan does not hold (a history file probed at promotion): "not in the archive" at once, no wal-fetch.
    const probe = ask(dir, command, '00000002.history');
    expect(probe.status).not.toBe(0);
    expect(probe.stdout).toBe('');
    await new Promise((r) => setTimeout(r, 50));
    expect(reads).toEqual(names.slice(0, 3));
    // grep failing (2: the list unreadable), not answering "no" (1), is not "absent": wal-fetch is asked.
    const bin = mkdtempSync(join(tmpdir(), 'grep-fails-'));
    writeFileSync(join(bin, 'grep'), '#!/bin/sh\nexit 2\n', { mode: 0o755 });
    const failing = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    expect(ask(dir, command, '00000002.history', failing).stdout.trim()).toBe('fallback 00000002.history pg_wal/RECOVERYXLOG');
    rmSync(bin, { recursive: true, force: true });
    await fetcher.stop();
    expect(existsSync(inside)).toBe(false);
    // Once the folder is gone (a server started by hand later), every name goes to wal-fetch.
    expect(ask(dir, command, '00000002.history').stdout.trim()).toBe('fallback 00000002.history pg_wal/RECOVERYXLOG');
    expect(ask(dir, command, names[0]!).stdout.trim()).toBe(`fallback ${names[0]} pg_wal/RECOVERYXLOG`);
  });

  it('a file PostgreSQL already got through wal-fetch is not fetched again, and a stale prefetched copy does not hold the prefetch back', async () => {
    const tookViaWalFetch = (name: string) => appendFileSync(join(dir, WAL_FETCH_LOG), `${JSON.stringify({ outcome: 'fetched', name, copy: 'a', refused: [], partial: false })}\n`);
    tookViaWalFetch(names[0]!);
    const fetcher = prefetcher(1);
    await fetcher.start();
    for (let i = 0; i < 400 && !existsSync(join(folder, names[1]!)); i++) await new Promise((r) => setTimeout(r, 5));
    expect(reads).toEqual([names[1]]); // the first was skipped
    // Recovery catches up: wal-fetch serves the second before the prefetched copy is taken.
    tookViaWalFetch(names[1]!);
    for (let i = 0; i < 400 && existsSync(join(folder, names[1]!)); i++) await new Promise((r) => setTimeout(r, 5));
    expect(existsSync(join(folder, names[1]!))).toBe(false);
    // With one file allowed ahead, the stale copy's removal lets the prefetch go on to the third (damaged: it stops there).
    for (let i = 0; i < 400 && reads.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(reads).toEqual([names[1], names[2]]);
    await fetcher.stop();
  });

  it('stop removes what PostgreSQL never took', async () => {
    const fetcher = prefetcher(8);
    await fetcher.start();
    for (let i = 0; i < 400 && fetcher.fetched < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(readdirSync(folder).filter((n) => !n.endsWith('.log') && !n.startsWith('.')).sort()).toEqual(names.slice(0, 2));
    await fetcher.stop();
    expect(existsSync(folder)).toBe(false);
  });
});
