import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateIdentity } from 'age-encryption';
import { LocationRegistry } from '../src/backup-run/locations/location.registry.js';
import { startWorld, World } from './harness.js';

/** path → type, mode, size, content hash, link target, mtime (s): what "restored identically" means. */
const snapshot = (root: string) => {
  const out: Record<string, unknown> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, path));
      const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
      out[path] = {
        type,
        mode: (st.mode & 0o7777).toString(8),
        size: type === 'file' ? st.size : undefined,
        sha256: type === 'file' ? createHash('sha256').update(readFileSync(join(root, path))).digest('hex') : undefined,
        link: type === 'symlink' ? readlinkSync(join(root, path)) : undefined,
        mtime: type === 'symlink' ? undefined : Math.floor(st.mtimeMs / 1000),
      };
      if (type === 'dir') walk(path);
    }
  };
  walk('');
  return out;
};

describe('directory backup and restore (real filesystem, NATS, PostgreSQL)', () => {
  let world: World;
  let tree: string;
  let identity: string;
  let keyFile: string;

  beforeAll(async () => {
    world = await startWorld('bkdir');
    tree = join(world.root, 'data');
    mkdirSync(join(tree, 'nested/a/b'), { recursive: true });
    mkdirSync(join(tree, 'empty'));
    mkdirSync(join(tree, 'café'));
    mkdirSync(join(tree, 'cache'));
    mkdirSync(join(tree, 'private'), { mode: 0o750 });
    writeFileSync(join(tree, 'nested/a/b/deep.txt'), 'deep\n');
    writeFileSync(join(tree, 'café/résumé ü 日本.txt'), 'non-ASCII name\n');
    writeFileSync(join(tree, '@scope.txt'), 'a name tar could mistake for an archive\n');
    writeFileSync(join(tree, 'big.bin'), randomBytes(3 * 1024 * 1024 + 17));
    writeFileSync(join(tree, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    writeFileSync(join(tree, 'private/secret'), 'secret\n', { mode: 0o600 });
    writeFileSync(join(tree, 'readonly.txt'), 'ro\n', { mode: 0o444 });
    writeFileSync(join(tree, 'odd-mode'), 'odd\n', { mode: 0o741 });
    writeFileSync(join(tree, 'cache/skip.bin'), 'excluded\n');
    writeFileSync(join(tree, 'scratch.tmp'), 'excluded\n');
    symlinkSync('nested/a/b/deep.txt', join(tree, 'link-to-deep'));
    symlinkSync('does-not-exist', join(tree, 'dangling'));
    chmodSync(join(tree, 'private'), 0o750);
    chmodSync(join(tree, 'odd-mode'), 0o741);
    utimesSync(join(tree, 'nested/a/b/deep.txt'), new Date('2020-02-02T02:02:02Z'), new Date('2020-02-02T02:02:02Z'));
    utimesSync(join(tree, 'nested/a'), new Date('2021-03-03T03:03:03Z'), new Date('2021-03-03T03:03:03Z'));
    identity = await generateIdentity();
    keyFile = join(world.root, 'backup.agekey');
    writeFileSync(keyFile, `# created by the test\n${identity}\n`, { mode: 0o600 });
  });

  afterAll(async () => {
    await world?.close();
  });

  const configYaml = (encrypted: boolean) => `
resources:
  files: { kind: directory, site: eu-west-1a, path: ${tree}, exclude: ['cache/**', '**/*.tmp'], restoreTargets: [${world.root}] }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  usb: { kind: filesystem, site: eu-west-1a, medium: usb, path: ${world.root}/usb }
  remote: { kind: filesystem, site: eu-north-1, medium: disk, path: ${world.root}/remote }
policies:
  files-hourly:
    resource: files
    schedule: every 1h
    copies: [local-disk, usb, remote]
${encrypted ? `    encryption: { keyFile: ${keyFile} }\n` : ''}`;

  const backUp = async (encrypted: boolean) => {
    const config = await world.config(configYaml(encrypted));
    const { done } = await world.runner(config).start('files', { trigger: 'test' });
    const outcome = await done;
    if (outcome.state !== 'created') throw new Error(`backup failed: ${outcome.reason}`);
    const locations = new LocationRegistry(config, world.nc);
    return { outcome, config, locations, restore: world.restorer(config, (n) => locations.get(n)) };
  };

  const expected = () => {
    const all = snapshot(tree);
    delete all['cache'];
    delete all['cache/skip.bin'];
    delete all['scratch.tmp'];
    return all;
  };

  it('restores nested folders, an empty folder, symlinks, unusual modes and non-ASCII names identically', async () => {
    const { outcome, locations, restore } = await backUp(false);
    const target = join(world.root, 'restored-plain');
    const result = await restore.restore({ backupId: outcome.backupId, to: target });
    expect(result.copy.location).toBe('local-disk');
    expect(snapshot(target)).toEqual(expected());
    expect(snapshot(target)['empty']).toMatchObject({ type: 'dir' });
    expect(snapshot(target)['odd-mode']).toMatchObject({ mode: '741' });
    expect(snapshot(target)['nested/a']).toMatchObject({ mtime: Math.floor(Date.parse('2021-03-03T03:03:03Z') / 1000) });

    // The manifest indexes every entry with size, mode and SHA-256.
    const manifest = JSON.parse(readFileSync(fileURLToPath((await world.catalogue.get(outcome.backupId))!.copies[0]!.manifestUri), 'utf8'));
    expect(manifest.tables).toBeNull(); // row counts are PostgreSQL's
    const entry = manifest.files.find((f: { path: string }) => f.path === 'café/résumé ü 日本.txt');
    expect(entry).toEqual({
      path: 'café/résumé ü 日本.txt',
      type: 'file',
      size: 15,
      mode: 0o644,
      mtime: expect.any(String),
      sha256: createHash('sha256').update('non-ASCII name\n').digest('hex'),
      linkTarget: null,
    });
    expect(manifest.files.map((f: { path: string }) => f.path)).not.toContain('scratch.tmp');
    expect(manifest.files.find((f: { path: string }) => f.path === 'link-to-deep')).toMatchObject({ type: 'symlink', linkTarget: 'nested/a/b/deep.txt' });
    await locations.close();
  });

  it('encrypts at rest: the stored copy is not plaintext; the key restores it; no key or a wrong key fails clearly', async () => {
    const { outcome, locations, restore } = await backUp(true);
    const record = (await world.catalogue.get(outcome.backupId))!;
    expect(record.encryption).toEqual({ format: 'age', recipients: [expect.stringMatching(/^age1/)] });
    const stored = readFileSync(fileURLToPath(record.copies[0]!.uri));
    expect(stored.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(stored.includes(Buffer.from('non-ASCII name'))).toBe(false);
    expect(stored.includes(Buffer.from('deep.txt'))).toBe(false);
    // Anyone can check the copy without the key: the hash is over the stored bytes.
    expect(createHash('sha256').update(stored).digest('hex')).toBe(record.sha256);
    expect(record.plaintext!.sha256).not.toBe(record.sha256);
    const [created] = (await world.events('BackupCreated')).filter((e) => e.data.backupId === outcome.backupId);
    expect(created!.data.encryption).toEqual(record.encryption);

    await expect(restore.restore({ backupId: outcome.backupId, to: join(world.root, 'no-key') })).rejects.toThrow(
      /is encrypted \(age, to age1\w+\) and no key was given: pass the key file holding its AGE-SECRET-KEY \(--key <file>\)/,
    );
    const wrong = await generateIdentity();
    await expect(restore.restore({ backupId: outcome.backupId, to: join(world.root, 'wrong-key'), identities: [wrong] })).rejects.toThrow(
      /cannot decrypt backup .*: .* \(is this the key the backup was encrypted to\?\)/,
    );
    expect(readdirSync(world.root).filter((n) => n.includes('.restore-'))).toEqual([]);

    const target = join(world.root, 'restored-encrypted');
    await restore.restore({ backupId: outcome.backupId, to: target, identities: [identity] });
    expect(snapshot(target)).toEqual(expected());
    await locations.close();
  });
});
