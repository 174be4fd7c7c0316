import { createHash } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import picomatch from 'picomatch';
import { create as createTar, type ReadEntry } from 'tar';
import type { DirectoryResourceConfig } from '../../config/backup-config.schema.js';
import type { FileIndexEntry } from '@continuity/artifacts';
import { SourceError, SourceRun } from './source.js';
import { TarObserver } from './tar-observer.js';

export interface DirectoryPlan {
  /** Entries to archive, relative to the root, parents before children, sorted by name. */
  entries: string[];
  skipped: { path: string; reason: string }[];
  /** Bytes of regular files (the tar stream is a little larger). */
  fileBytes: number;
}

/**
 * Walks `root` and decides what goes into the archive. `include`/`exclude` are globs relative to
 * the root (`**` matches dot-files too); an excluded directory is not descended into; a directory
 * is kept when it matches `include` itself or holds something that does (so empty folders are
 * kept with the default `**`). Sockets, FIFOs and devices cannot be archived: they are listed.
 */
export const planDirectory = async (root: string, include: readonly string[], exclude: readonly string[]): Promise<DirectoryPlan> => {
  const included = picomatch([...include], { dot: true });
  const excluded = exclude.length ? picomatch([...exclude], { dot: true }) : () => false;
  const skipped: DirectoryPlan['skipped'] = [];
  let fileBytes = 0;
  try {
    if (!(await lstat(root)).isDirectory()) throw new SourceError(`${root} is not a directory`);
  } catch (error) {
    if (error instanceof SourceError) throw error;
    throw new SourceError(`cannot read ${root}: ${(error as Error).message}`);
  }
  const walk = async (rel: string): Promise<string[]> => {
    const out: string[] = [];
    const dirents = (await readdir(join(root, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const dirent of dirents) {
      const path = rel ? `${rel}/${dirent.name}` : dirent.name;
      if (excluded(path)) continue;
      if (dirent.isDirectory()) {
        if (excluded(`${path}/`)) continue;
        const children = await walk(path);
        if (children.length || included(path) || included(`${path}/`)) out.push(path, ...children);
      } else if (dirent.isFile() || dirent.isSymbolicLink()) {
        if (!included(path)) continue;
        if (dirent.isFile()) fileBytes += (await lstat(join(root, path))).size;
        out.push(path);
      } else if (included(path)) {
        skipped.push({ path, reason: dirent.isSocket() ? 'socket' : dirent.isFIFO() ? 'FIFO' : 'device or other special file' });
      }
    }
    return out;
  };
  const entries = await walk('');
  return { entries, skipped, fileBytes };
};

const TYPES: Record<string, FileIndexEntry['type']> = {
  File: 'file',
  OldFile: 'file',
  ContiguousFile: 'file',
  Directory: 'directory',
  SymbolicLink: 'symlink',
  Link: 'hardlink',
};

/** Reads the tar stream as it is produced and indexes every entry (path, size, mode, SHA-256). */
export class TarIndexer extends TarObserver {
  readonly files: FileIndexEntry[] = [];

  constructor() {
    super((entry: ReadEntry) => {
      const type = TYPES[entry.type];
      if (!type) return entry.resume();
      const hash = type === 'file' ? createHash('sha256') : null;
      const record: FileIndexEntry = {
        path: entry.path.replace(/^\.\//, '').replace(/\/$/, ''),
        type,
        size: type === 'file' ? entry.size : 0,
        mode: (entry.mode ?? 0) & 0o7777,
        mtime: entry.mtime && !Number.isNaN(entry.mtime.getTime()) ? entry.mtime.toISOString() : new Date(0).toISOString(),
        sha256: null,
        linkTarget: entry.linkpath || null,
      };
      if (hash) entry.on('data', (chunk: Buffer) => hash.update(chunk));
      entry.on('end', () => {
        if (hash) record.sha256 = hash.digest('hex');
      });
      this.files.push(record);
      entry.resume(); // entries without a 'data' listener (directories, links) must still be drained
    });
  }
}

/** A tar stream of the directory (modes, mtimes, symlinks as links, uid/gid kept). */
export const startDirectorySource = async (resource: DirectoryResourceConfig): Promise<SourceRun> => {
  const plan = await planDirectory(resource.path, resource.include, resource.exclude);
  // node-tar reads a leading "@" as "append this archive": say "./" so such names stay names.
  const args = plan.entries.map((p) => (p.startsWith('@') ? `./${p}` : p));
  const pack = createTar({ cwd: resource.path, portable: false, noDirRecurse: true, follow: false, strict: true }, args);
  const stream = Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false });
  const indexer = new TarIndexer();
  let failure: Error | null = null;
  const failed = new Promise<never>((_, reject) => {
    pack.on('error', (error: unknown) => {
      failure = new SourceError(`cannot archive ${resource.path}: ${(error as Error).message}`);
      reject(failure);
    });
  });
  failed.catch(() => undefined);
  const finished = new Promise<void>((resolve) => stream.once('end', resolve));
  const tarVersion = (require('tar/package.json') as { version: string }).version;
  return {
    kind: 'directory',
    method: 'tar',
    extension: 'tar',
    stream,
    expectedBytes: plan.fileBytes + (plan.entries.length + 2) * 1024,
    tools: { 'node-tar': tarVersion },
    observe: (chunk) => indexer.write(chunk),
    done: async () => {
      await Promise.race([finished, failed]);
      if (failure) throw failure;
      await indexer.end();
    },
    index: () => ({ files: indexer.files, skipped: plan.skipped }),
    cancel: () => {
      stream.destroy();
    },
  };
};
