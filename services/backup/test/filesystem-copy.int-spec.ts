import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { v7 as uuidv7 } from 'uuid';
import type { ArtifactKey } from '@continuity/artifacts';
import { FilesystemLocation, FLUSH_EVERY_BYTES } from '../src/backup-run/locations/filesystem.location.js';
import { tempDir } from './harness.js';

/** One copy on a real filesystem: written, flushed in the background as it grows, committed with its manifest. */
describe('a filesystem copy', () => {
  let root: string;
  let location: FilesystemLocation;
  const key = (): ArtifactKey => ({ resource: 'orders-db', backupId: uuidv7(), extension: 'dump' });
  const digestOf = (bytes: Buffer) => ({ sha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: bytes.length });

  beforeEach(() => {
    root = tempDir('continuity-fs-copy');
    location = new FilesystemLocation('local-disk', 'eu-west-1a', 'disk', root);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('holds exactly the bytes written (larger than a background flush, in uneven chunks) under its final name, with its manifest, and nothing else', async () => {
    const bytes = randomBytes(2 * FLUSH_EVERY_BYTES + 12_345);
    const k = key();
    const writer = await location.begin(k);
    for (let at = 0; at < bytes.length; ) {
      const size = Math.min(bytes.length - at, 700_000 + (at % 3) * 300_001);
      await writer.write(bytes.subarray(at, at + size));
      at += size;
    }
    await writer.finish(digestOf(bytes));
    await writer.commit(Buffer.from('{"manifest":true}\n'));
    expect(readFileSync(fileURLToPath(writer.uri)).equals(bytes)).toBe(true);
    expect(readFileSync(fileURLToPath(writer.manifestUri), 'utf8')).toBe('{"manifest":true}\n');
    expect(readdirSync(join(root, 'orders-db')).sort()).toEqual([`${k.backupId}.dump`, `${k.backupId}.manifest.json`]);
  });

  it('refuses to finish a copy whose size is not the one expected, and the abort leaves nothing', async () => {
    const bytes = randomBytes(100_000);
    const writer = await location.begin(key());
    await writer.write(bytes);
    await expect(writer.finish({ ...digestOf(bytes), sizeBytes: bytes.length + 1 })).rejects.toThrow(/holds 100000 bytes, expected 100001/);
    expect(await writer.abort()).toMatchObject({ removed: true, error: null });
    expect(readdirSync(join(root, 'orders-db'))).toEqual([]);
  });

  it('a commit whose manifest cannot take its name fails the copy, and the abort removes the copy already renamed and the staged manifest', async () => {
    const bytes = randomBytes(300_000);
    const k = key();
    const writer = await location.begin(k);
    // A folder where the manifest goes: the manifest is staged, but its rename fails (EISDIR).
    mkdirSync(join(root, 'orders-db', `${k.backupId}.manifest.json`));
    await writer.write(bytes);
    await writer.finish(digestOf(bytes));
    await expect(writer.commit(Buffer.from('{}\n'))).rejects.toThrow(/^local-disk: cannot commit .*\.dump: .*(EISDIR|ENOTEMPTY|EEXIST)/);
    // The copy took its name (the abort removes it); the staged manifest is gone already.
    expect(readdirSync(join(root, 'orders-db')).sort()).toEqual([`${k.backupId}.dump`, `${k.backupId}.manifest.json`]);
    rmSync(join(root, 'orders-db', `${k.backupId}.manifest.json`), { recursive: true });
    expect(await writer.abort()).toMatchObject({ removed: true, error: null });
    expect(readdirSync(join(root, 'orders-db'))).toEqual([]);
  });
});
