import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { zstdCompress } from '@continuity/artifacts';
import { extractionForSystem, idOf, untar, type Extraction } from '../src/restore/data-directory.target.js';

/**
 * The restore's extraction (the system's bsdtar or GNU tar, as the postgres OS user when we are
 * root) with archives crafted to reach outside the staging folder. The archive is hostile until
 * its SHA-256 matched, which is known only once the last byte went through the extractor: nothing
 * it says may land outside the folder, whatever the extractor.
 */

/** One ustar header block (what pg_basebackup -Ft writes), with its checksum. */
const header = (name: string, type: string, size: number, linkName = '', mode = 0o600, device: [number, number] = [0, 0]) => {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(mode.toString(8).padStart(7, '0'), 100);
  h.write('0000000', 108);
  h.write('0000000', 116);
  h.write(size.toString(8).padStart(11, '0'), 124);
  h.write(Math.floor(Date.now() / 1000).toString(8).padStart(11, '0'), 136);
  h.write(type, 156);
  h.write(linkName, 157, 100, 'utf8');
  h.write('ustar\u000000', 257, 'latin1');
  h.write(device[0].toString(8).padStart(7, '0'), 329);
  h.write(device[1].toString(8).padStart(7, '0'), 337);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return h;
};
const file = (name: string, body: string) => {
  const bytes = Buffer.from(body);
  return Buffer.concat([header(name, '0', bytes.length), bytes, Buffer.alloc((512 - (bytes.length % 512)) % 512)]);
};
const archive = (...members: Buffer[]) => Buffer.concat([...members, Buffer.alloc(1024)]);

const asRoot = process.getuid?.() === 0;
const extractions: [string, Extraction][] = [
  ['the system choice', extractionForSystem()],
  ['GNU tar', { program: 'tar', args: ['--no-same-owner', '--ignore-zeros'], decodesZstd: false }],
];
const hasBsdtar = spawnSync('bsdtar', ['--version']).status === 0;
if (hasBsdtar) extractions.push(['bsdtar', { program: 'bsdtar', args: ['--no-same-owner', '--no-xattrs', '--no-acls', '--no-fflags', '--ignore-zeros'], decodesZstd: true }]);

describe.each(extractions)('base-backup extraction with %s', (_name, how) => {
  let root = '';
  let staging = '';
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'continuity-untar-'));
    chmodSync(root, 0o755); // the postgres OS user extracts below it
    staging = join(root, 'staging');
    mkdirSync(staging, { mode: 0o700 });
    if (asRoot) chownSync(staging, idOf('-u'), idOf('-g'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** Extracts `tar` (plain; bsdtar reads it as it reads zstd) and says whether the extractor refused it. */
  const extract = async (tar: Buffer, compressed = false) => {
    const input = compressed ? Readable.from(zstdCompress(Readable.from([tar]), { frameBytes: 4096 })) : Readable.from([tar]);
    return untar(staging, input, true, compressed ? how : { ...how, args: how.args.filter((a) => a !== '--zstd') }).then(
      () => null,
      (error: Error) => error,
    );
  };

  it('reads on past the end marker: a server-compressed backup is the server\'s tar, then a tar of backup_manifest', async () => {
    const tar = Buffer.concat([archive(file('PG_VERSION', '15\n')), archive(file('backup_manifest', '{"PostgreSQL-Backup-Manifest-Version": 1}'))]);
    expect(await extract(tar, how.decodesZstd)).toBeNull();
    expect(readFileSync(join(staging, 'PG_VERSION'), 'utf8')).toBe('15\n');
    expect(readFileSync(join(staging, 'backup_manifest'), 'utf8')).toContain('Manifest-Version');
  });

  it('refuses an escape hidden in a tar after the end marker', async () => {
    const tar = Buffer.concat([archive(file('PG_VERSION', '15\n')), archive(file('../escaped-after-end', 'x'))]);
    const error = await extract(tar, how.decodesZstd);
    expect(error).not.toBeNull();
    expect(existsSync(join(root, 'escaped-after-end'))).toBe(false);
  });

  it('extracts what pg_basebackup writes, as the postgres OS user, modes kept', async () => {
    const tar = archive(header('global/', '5', 0, '', 0o700), file('global/pg_control', 'control'), header('./pg_wal/archive_status/', '5', 0, '', 0o700), file('PG_VERSION', '15\n'));
    expect(await extract(tar, how.decodesZstd)).toBeNull();
    expect(readFileSync(join(staging, 'global', 'pg_control'), 'utf8')).toBe('control');
    expect(readFileSync(join(staging, 'PG_VERSION'), 'utf8')).toBe('15\n');
    expect(statSync(join(staging, 'pg_wal', 'archive_status')).isDirectory()).toBe(true);
    expect(statSync(join(staging, 'PG_VERSION')).mode & 0o777).toBe(0o600);
    expect(statSync(join(staging, 'global')).mode & 0o777).toBe(0o700);
    if (asRoot) expect(statSync(join(staging, 'PG_VERSION')).uid).toBe(idOf('-u'));
  });

  it('attack: a ".." member is refused and lands nowhere', async () => {
    const error = await extract(archive(file('base/../../escaped', 'owned')));
    expect(error).not.toBeNull();
    expect(existsSync(join(root, 'escaped'))).toBe(false);
  });

  it('attack: an absolute path lands inside the folder, never at that path', async () => {
    const target = join(root, 'absolute');
    await extract(archive(file(target, 'owned')));
    expect(existsSync(target)).toBe(false);
  });

  it('attack: a symbolic link out of the folder, then a file through it: nothing is written outside', async () => {
    const outside = join(root, 'outside');
    mkdirSync(outside, { mode: 0o777 });
    chmodSync(outside, 0o777); // writable by the extracting user: only the extractor's own check stops it
    const error = await extract(archive(header('pg_tblspc', '2', 0, outside, 0o777), file('pg_tblspc/escaped', 'owned'), header('up', '2', 0, '..', 0o777), file('up/escaped', 'owned')));
    expect(error).not.toBeNull();
    expect(existsSync(join(outside, 'escaped'))).toBe(false);
    expect(existsSync(join(root, 'escaped'))).toBe(false);
  });

  it('attack: a hard link to a file outside the folder is refused', async () => {
    const error = await extract(archive(header('linked', '1', 0, '../../../etc/passwd')));
    expect(error).not.toBeNull();
    expect(existsSync(join(staging, 'linked'))).toBe(false);
  });

  it('attack: a device node (the first disk, raw) is never made', async () => {
    // (A 0:0 character device is a whiteout, which anyone may make and nobody can open: not the attack.)
    await extract(archive(header('pg_disk', '4', 0, '', 0o666, [8, 0]), header('pg_mem', '3', 0, '', 0o666, [1, 1])));
    expect(existsSync(join(staging, 'pg_disk')) && statSync(join(staging, 'pg_disk')).isBlockDevice()).toBe(false);
    expect(existsSync(join(staging, 'pg_mem')) && statSync(join(staging, 'pg_mem')).isCharacterDevice()).toBe(false);
  });

  it('a truncated archive fails', async () => {
    const whole = archive(file('PG_VERSION', 'x'.repeat(3000)));
    expect(await extract(whole.subarray(0, 1500))).not.toBeNull();
  });
});
