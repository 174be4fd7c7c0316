import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract as extractTar, type ReadEntry } from 'tar';
import { compareTree, FoundEntry } from './directory-compare.js';
import { check, openPlaintext, outcomeOf, PlaintextDigest, plaintextCheck, RestoreCheck, RestoreTestContext, RestoreTester, RestoreTestOutcome, skipped } from './restore-test.js';
import type { Scratch } from './scratch.js';

const hashFile = async (path: string): Promise<string> => {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
};

/** Every entry under `root`, keyed by its path relative to it (`a/b.txt`), files hashed. */
export const walkTree = async (root: string, signal?: AbortSignal): Promise<Map<string, FoundEntry>> => {
  const found = new Map<string, FoundEntry>();
  const walk = async (rel: string) => {
    for (const name of await readdir(rel ? join(root, rel) : root)) {
      if (signal?.aborted) throw signal.reason;
      const path = rel ? `${rel}/${name}` : name;
      const full = join(root, path);
      const stat = await lstat(full);
      const type: FoundEntry['type'] = stat.isFile() ? 'file' : stat.isDirectory() ? 'directory' : stat.isSymbolicLink() ? 'symlink' : 'other';
      found.set(path, {
        path,
        type,
        size: stat.isFile() ? stat.size : 0,
        mode: stat.mode & 0o7777,
        sha256: type === 'file' ? await hashFile(full) : null,
        linkTarget: type === 'symlink' ? await readlink(full) : null,
      });
      if (type === 'directory') await walk(path);
    }
  };
  await walk('');
  return found;
};

/** The archive holds more than its declared size: extraction stopped. */
export class ExtractionLimitError extends Error {
  override readonly name = 'ExtractionLimitError';
  readonly code = 'VERIFY.EXTRACTION_LIMIT';
}

/**
 * What a tar error says, without quoting the archive: node-tar's messages may carry an entry's
 * path or link target (bytes of the archive) and the scratch folder's path; its codes do not.
 */
export const describeTarError = (error: unknown, entries: number): string => {
  const { tarCode, code } = error as { tarCode?: string; code?: string };
  // Not node-tar's: reading or decrypting the copy failed (our own words, or the decryptor's).
  if (error instanceof ExtractionLimitError || !tarCode) return (error as Error).message;
  const kind: Record<string, string> = {
    TAR_BAD_ARCHIVE: 'not a tar archive, or truncated',
    TAR_ENTRY_INVALID: 'an invalid entry header',
    TAR_ENTRY_UNSUPPORTED: 'an entry of an unsupported type',
    TAR_ENTRY_ERROR: 'an entry that could not be extracted',
    TAR_ABORT: 'the archive could not be read to its end',
  };
  const what = (tarCode && kind[tarCode]) ?? 'the archive could not be extracted';
  const codes = [tarCode, code && code !== tarCode ? code : undefined].filter(Boolean).join(', ');
  return `${what} (${codes || 'no code'}) after ${entries} entries`;
};

/**
 * The extraction, stopped once the archive's entries (each a 512-byte header and its content
 * rounded up to 512-byte blocks: what a plain tar stream of them takes) exceed `limitBytes`. A tar
 * stream of a declared size cannot hold more; a compressed one (node-tar unpacks gzip, brotli and
 * zstd on its own) can, and is stopped at the first entry past the limit, before it is written.
 */
export const cappedExtract = (cwd: string, limitBytes: number, options: { owner?: { uid: number; gid: number } | null; noLinks?: boolean } = {}) => {
  let counted = 0;
  const state = { entries: 0 };
  const unpack = extractTar({
    cwd,
    strict: true,
    chmod: true,
    processUmask: 0,
    preserveOwner: false,
    // A base backup's files must belong to the OS user its server runs as (never the archive's owners).
    ...(options.owner ?? {}),
    filter: (_path: string, entry: ReadEntry | Stats) => {
      counted += 512 + Math.ceil((entry.size ?? 0) / 512) * 512;
      state.entries++;
      // A server will run in what a base backup extracts: a link could make it write outside the folder.
      if (options.noLinks && 'type' in entry && (entry.type === 'SymbolicLink' || entry.type === 'Link')) {
        unpack.abort(new ExtractionLimitError(`entry ${state.entries} is a link: a base backup holds none`));
        return false;
      }
      if (counted <= limitBytes) return true;
      unpack.abort(new ExtractionLimitError(`the archive holds more than its declared ${limitBytes} bytes: extraction stopped at entry ${state.entries}`));
      return false;
    },
  });
  return { unpack, state };
};

/**
 * Directory restore test: the tar stream (decrypted on the way when encrypted) is extracted into a
 * scratch folder created for the test and always removed after, then every entry is compared with
 * the manifest's per-file index (type, size, SHA-256, mode, link target) and nothing unindexed may
 * be there. The extraction time is the measured restore RTO.
 */
export class DirectoryRestoreTest implements RestoreTester {
  constructor(private readonly scratch: Scratch) {}

  async run(context: RestoreTestContext): Promise<RestoreTestOutcome> {
    if (context.encryption && !context.identities.length) {
      return skipped(
        `encrypted (age) to ${context.encryption.recipients.join(', ')} and no configured key holds a matching identity`,
        `the archive is encrypted (age) to ${context.encryption.recipients.join(', ')} and no configured key holds a matching identity (add its key file under keys in VERIFIER_CONFIG)`,
      );
    }
    let dir;
    try {
      dir = await this.scratch.directory(context.backupId);
    } catch (error) {
      return skipped((error as Error).message, (error as Error).message);
    }
    try {
      const checks: RestoreCheck[] = [];
      const started = performance.now();
      let plaintext: PlaintextDigest | null = null;
      let extraction: ReturnType<typeof cappedExtract> | null = null;
      try {
        const input = await openPlaintext(context);
        // Never as the archive's owners, never outside the folder (node-tar strips absolute paths and `..`),
        // never more than the declared plaintext size (a tar bomb stops there; the folder is removed below).
        extraction = cappedExtract(dir.path, context.plaintext?.sizeBytes ?? context.copy.sizeBytes);
        await pipeline(input.stream, extraction.unpack, { signal: context.signal });
        plaintext = input.digest();
        checks.push(check('extract', true, `${plaintext.sizeBytes} bytes extracted from ${context.copy.location}`));
      } catch (error) {
        if (context.signal.aborted) throw error;
        checks.push(check('extract', false, describeTarError(error, extraction?.state.entries ?? 0)));
      }
      const durationMs = performance.now() - started;
      if (plaintext) {
        const plain = plaintextCheck(context, plaintext);
        if (plain) checks.push(plain);
        const index = context.manifest?.files;
        if (index) checks.push(...compareTree(index, await walkTree(dir.path, context.signal)));
        else checks.push(check('contents compared', true, 'no per-file index (no manifest): extraction only'));
      }
      return outcomeOf(checks, durationMs);
    } finally {
      await dir.remove();
    }
  }
}
