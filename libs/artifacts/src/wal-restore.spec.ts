import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fetchWalFile, parseRestorePlan, RESTORE_PLAN_FORMAT, type RestorePlan } from './wal-restore.js';
import { zstdCompress } from './zstd.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const collect = async (s: AsyncIterable<Buffer>) => {
  const parts: Buffer[] = [];
  for await (const chunk of s) parts.push(chunk);
  return Buffer.concat(parts);
};
const NAME = '000000010000000000000003';

describe('fetchWalFile: a WAL file from the first copy whose hashes match', () => {
  let dir: string;
  let plain: Buffer;
  let stored: Buffer;
  let plan: RestorePlan;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'walfetch-'));
    plain = Buffer.alloc(64 * 1024, 3);
    stored = await collect(zstdCompress(Readable.from([plain])));
    plan = parseRestorePlan(
      JSON.stringify({
        format: RESTORE_PLAN_FORMAT,
        resource: 'db',
        backupId: 'b',
        target: { kind: 'latest', value: null },
        recordsFrom: 'test',
        encryption: null,
        locations: [
          { name: 'a', kind: 'filesystem', path: '/a' },
          { name: 'b', kind: 'filesystem', path: '/b' },
        ],
        files: [
          {
            name: NAME,
            timeline: 1,
            startLsn: '0/3000000',
            endLsn: '0/4000000',
            partial: false,
            plaintextSha256: sha(plain),
            plaintextSizeBytes: plain.length,
            copies: ['a', 'b'].map((location) => ({ location, sha256: sha(stored), sizeBytes: stored.length })),
          },
        ],
      }),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('falls back to the next copy when one is damaged, and says so', async () => {
    const damaged = Buffer.from(stored);
    damaged[damaged.length >> 1] ^= 0xff;
    const dest = join(dir, 'one');
    const outcome = await fetchWalFile(plan, NAME, dest, { identities: [], read: async (location) => Readable.from([location === 'a' ? damaged : stored]) });
    expect(outcome).toMatchObject({ outcome: 'fetched', copy: 'b', refused: [{ location: 'a', error: expect.stringContaining('SHA-256 mismatch') }] });
    expect(sha(readFileSync(dest))).toBe(sha(plain));
  });

  it('fails, writing nothing, when no copy is usable; a file not in the plan is absent', async () => {
    const dest = join(dir, 'two');
    const outcome = await fetchWalFile(plan, NAME, dest, { identities: [], read: async (location) => (location === 'a' ? Readable.from([stored.subarray(1)]) : Promise.reject(new Error('gone'))) });
    expect(outcome).toMatchObject({ outcome: 'failed', refused: [{ location: 'a' }, { location: 'b', error: 'gone' }] });
    expect(existsSync(dest)).toBe(false);
    expect(await fetchWalFile(plan, '000000010000000000000009', dest, { identities: [], read: async () => Readable.from([stored]) })).toEqual({ outcome: 'absent', name: '000000010000000000000009' });
  });

  it('refuses a name that is a path before reading anything', async () => {
    const read = jest.fn();
    await expect(fetchWalFile(plan, `../${NAME}`, join(dir, 'x'), { identities: [], read })).rejects.toThrow(/not a WAL file name/);
    expect(read).not.toHaveBeenCalled();
    expect(() => parseRestorePlan(JSON.stringify({ ...plan, files: [{ ...plan.files[0], name: '../../etc/passwd' }] }))).toThrow(/restore plan is invalid/);
  });

  it('reads a partial segment from the version the plan names, never from the plain name', async () => {
    const object = `${NAME}.partial.00010000`;
    const versioned = parseRestorePlan(JSON.stringify({ ...plan, files: [{ ...plan.files[0], partial: true, object }] }));
    const keys: string[] = [];
    const dest = join(dir, 'version');
    const outcome = await fetchWalFile(versioned, NAME, dest, {
      identities: [],
      read: async (_location, key) => {
        keys.push(key.backupId);
        return Readable.from([stored]);
      },
    });
    expect(outcome).toMatchObject({ outcome: 'fetched', copy: 'a', partial: true, object });
    expect(keys).toEqual([`wal/00000001/${object}`]);
    // The version must be one of the file named, and only of a partial segment.
    expect(() => parseRestorePlan(JSON.stringify({ ...plan, files: [{ ...plan.files[0], partial: true, object: '000000010000000000000004.partial.00010000' }] }))).toThrow(/object must be a partial version/);
    expect(() => parseRestorePlan(JSON.stringify({ ...plan, files: [{ ...plan.files[0], partial: false, object }] }))).toThrow(/object must be a partial version/);
    expect(() => parseRestorePlan(JSON.stringify({ ...plan, files: [{ ...plan.files[0], partial: true, object: `${NAME}.partial/../x` }] }))).toThrow(/restore plan is invalid/);
  });
});
