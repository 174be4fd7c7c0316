import type { IndexedFile as FileIndexEntry } from '@continuity/artifacts';
import { compareTree, FoundEntry } from './directory-compare.js';

const entry = (path: string, type: FileIndexEntry['type'], over: Partial<FileIndexEntry> = {}): FileIndexEntry => ({
  path,
  type,
  size: type === 'file' ? 5 : 0,
  mode: type === 'directory' ? 0o755 : 0o644,
  sha256: type === 'file' ? 'a'.repeat(64) : null,
  linkTarget: type === 'symlink' ? 'a.txt' : null,
  ...over,
});
const found = (e: FileIndexEntry, over: Partial<FoundEntry> = {}): [string, FoundEntry] => [
  e.path,
  { path: e.path, type: e.type === 'hardlink' ? 'file' : e.type, size: e.size, mode: e.mode, sha256: e.sha256, linkTarget: e.linkTarget, ...over },
];

const INDEX = [entry('a.txt', 'file'), entry('dir', 'directory'), entry('dir/b.bin', 'file', { size: 9, mode: 0o741 }), entry('link', 'symlink')];

describe('compareTree', () => {
  it('passes every check for a tree that matches its index', () => {
    const checks = compareTree(INDEX, new Map(INDEX.map((e) => found(e))));
    expect(checks.every((c) => c.passed)).toBe(true);
    expect(checks.map((c) => c.name)).toEqual(['every indexed entry restored', 'file contents (size, SHA-256)', 'modes and link targets', 'no unindexed entries']);
    expect(checks[1]!.detail).toBe('2 files, 14 bytes');
  });

  it('names each missing, changed, re-moded, re-pointed and unexpected path', () => {
    const tree = new Map([
      found(INDEX[0]!, { sha256: 'b'.repeat(64) }),
      found(INDEX[1]!),
      found(INDEX[3]!, { linkTarget: '/etc/passwd' }),
      ['extra.txt', { path: 'extra.txt', type: 'file', size: 1, mode: 0o644, sha256: 'c'.repeat(64), linkTarget: null }] as [string, FoundEntry],
    ]);
    tree.set('dir', { ...tree.get('dir')!, mode: 0o777 });
    const checks = Object.fromEntries(compareTree(INDEX, tree).map((c) => [c.name, c]));
    expect(checks['every indexed entry restored']).toEqual({ name: 'every indexed entry restored', passed: false, detail: 'missing: dir/b.bin' });
    expect(checks['file contents (size, SHA-256)']!.detail).toBe(`a.txt: SHA-256 ${'b'.repeat(64)}, indexed ${'a'.repeat(64)}`);
    expect(checks['modes and link targets']!.detail).toBe('dir: mode 0777, indexed 0755; link: points to /etc/passwd, indexed a.txt');
    expect(checks['no unindexed entries']!.detail).toBe('unexpected: extra.txt');
  });
});
