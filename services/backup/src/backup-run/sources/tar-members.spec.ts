import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { create } from 'tar';
import { TarFormatError, TarMembers } from './tar-members.js';

/** A real tar (tar's writer): a big member to skip, the wanted ones, one under a long path (pax/ustar prefix). */
const archive = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tar-members-'));
  try {
    const deep = `${'d'.repeat(90)}/${'e'.repeat(90)}`;
    mkdirSync(join(dir, 'global'));
    mkdirSync(join(dir, deep), { recursive: true });
    writeFileSync(join(dir, 'backup_label'), 'START WAL LOCATION: 0/2000028\n');
    writeFileSync(join(dir, 'base.dat'), randomBytes(300_001));
    writeFileSync(join(dir, 'global', 'pg_control'), Buffer.alloc(8192, 3));
    writeFileSync(join(dir, deep, 'wanted_file'), 'deep');
    writeFileSync(join(dir, 'empty'), '');
    const chunks: Buffer[] = [];
    for await (const chunk of create({ cwd: dir, portable: true }, ['backup_label', 'base.dat', 'global', deep, 'empty'])) chunks.push(chunk as Buffer);
    return { bytes: Buffer.concat(chunks), deep: `${deep}/wanted_file` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

/** Feeds `bytes` in `size`-byte pieces through one reused buffer, as the FIFO reader does. */
const feed = (members: TarMembers, bytes: Buffer, size: number) => {
  const reused = Buffer.alloc(size);
  for (let at = 0; at < bytes.length; at += size) {
    const n = bytes.copy(reused, 0, at, at + size);
    members.write(reused.subarray(0, n));
    reused.fill(0xee);
  }
};

describe('TarMembers', () => {
  it('keeps the wanted members whole (copies, not views of a reused buffer), whatever the piece size', async () => {
    const { bytes, deep } = await archive();
    for (const size of [1, 511, 512, 4096, 65536, bytes.length]) {
      const members = new TarMembers(new Set(['backup_label', 'global/pg_control', 'empty', deep]));
      feed(members, bytes, size);
      members.end();
      expect(members.found.get('backup_label')?.toString()).toBe('START WAL LOCATION: 0/2000028\n');
      expect(members.found.get('global/pg_control')?.equals(Buffer.alloc(8192, 3))).toBe(true);
      expect(members.found.get(deep)?.toString()).toBe('deep');
      expect(members.found.get('empty')?.length).toBe(0);
      expect(members.found.has('base.dat')).toBe(false);
    }
  });

  it('refuses a truncated archive, a damaged header and an oversized wanted member', async () => {
    const { bytes } = await archive();
    const cut = new TarMembers(new Set(['backup_label']));
    cut.write(bytes.subarray(0, 100_000));
    expect(() => cut.end()).toThrow(/ends inside a member/);

    const damaged = Buffer.from(bytes);
    damaged[2] ^= 0xff; // the first header's name: its checksum no longer adds up
    const bad = new TarMembers(new Set(['backup_label']));
    bad.write(damaged);
    expect(() => bad.end()).toThrow(TarFormatError);

    const small = new TarMembers(new Set(['global/pg_control']), 1000);
    small.write(bytes);
    expect(() => small.end()).toThrow(/at most 1000/);
  });
});
