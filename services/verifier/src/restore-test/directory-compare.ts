import type { IndexedFile } from '@continuity/artifacts';
import type { RestoreCheck } from './restore-test.js';

/** What was found on disk for one path of the restored tree. */
export interface FoundEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  mode: number;
  sha256: string | null;
  linkTarget: string | null;
}

const LISTED = 5;
const list = (items: string[]) => `${items.slice(0, LISTED).join('; ')}${items.length > LISTED ? `; … ${items.length - LISTED} more` : ''}`;
const octal = (mode: number) => `0${(mode & 0o7777).toString(8)}`;

/**
 * Compares an extracted tree with the manifest's per-file index (pure): every indexed entry
 * present with its type; files with their size and SHA-256; modes; link targets; and nothing on
 * disk the index does not list. One check per aspect, each naming the paths that fail it.
 */
export const compareTree = (index: readonly IndexedFile[], found: ReadonlyMap<string, FoundEntry>): RestoreCheck[] => {
  const missing: string[] = [];
  const wrongType: string[] = [];
  const wrongContent: string[] = [];
  const wrongMode: string[] = [];
  const wrongLink: string[] = [];
  const indexed = new Set<string>();
  let files = 0;
  let bytes = 0;
  for (const entry of index) {
    indexed.add(entry.path);
    const got = found.get(entry.path);
    if (!got) {
      missing.push(entry.path);
      continue;
    }
    // A hard link is restored as another name of a regular file.
    const expectedType = entry.type === 'hardlink' ? 'file' : entry.type;
    if (got.type !== expectedType) {
      wrongType.push(`${entry.path}: a ${got.type}, indexed as a ${entry.type}`);
      continue;
    }
    if (entry.type === 'file') {
      files++;
      bytes += entry.size;
      if (got.size !== entry.size) wrongContent.push(`${entry.path}: ${got.size} bytes, indexed ${entry.size}`);
      else if (entry.sha256 && got.sha256 !== entry.sha256) wrongContent.push(`${entry.path}: SHA-256 ${got.sha256}, indexed ${entry.sha256}`);
    }
    if (entry.type === 'symlink' && got.linkTarget !== entry.linkTarget) wrongLink.push(`${entry.path}: points to ${got.linkTarget}, indexed ${entry.linkTarget}`);
    if (entry.type !== 'symlink' && entry.type !== 'hardlink' && (got.mode & 0o7777) !== (entry.mode & 0o7777)) {
      wrongMode.push(`${entry.path}: mode ${octal(got.mode)}, indexed ${octal(entry.mode)}`);
    }
  }
  const extra = [...found.keys()].filter((p) => !indexed.has(p)).sort();
  const check = (name: string, failing: string[], ok: string): RestoreCheck => ({ name, passed: failing.length === 0, detail: failing.length ? list(failing) : ok });
  return [
    check('every indexed entry restored', [...missing.map((p) => `missing: ${p}`), ...wrongType], `${index.length} entries`),
    check('file contents (size, SHA-256)', wrongContent, `${files} files, ${bytes} bytes`),
    check('modes and link targets', [...wrongMode, ...wrongLink], 'as indexed'),
    check('no unindexed entries', extra.map((p) => `unexpected: ${p}`), 'none'),
  ];
};
