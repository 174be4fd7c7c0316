import { constants, createReadStream } from 'node:fs';
import { lstat, open, realpath, type FileHandle } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { abortError, CopyReader, CopyRefusedError, CopyUnreadableError, LocalCopyFile, ReadOptions, UnsupportedLocationError } from './copy-reader.js';

const CHUNK = 1 << 20;
const READ_AHEAD = 3;

/**
 * O_NOFOLLOW: the last component is never followed (it was checked not to be a link, and a link
 * swapped in since fails with ELOOP). O_NONBLOCK: a FIFO swapped in since the check does not hang
 * the open (fstat then refuses it as not a regular file).
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

const pathOf = (uri: string): string => {
  try {
    return fileURLToPath(uri);
  } catch (error) {
    // file://other-host/… is a file on another machine: not readable from here.
    throw new UnsupportedLocationError(`${uri} is not a local file URI: ${(error as Error).message}`);
  }
};

const unreadable = (path: string, error: unknown) =>
  new CopyUnreadableError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`, { cause: error });

const inside = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
};

/**
 * `file://` copies (local disks, NAS mounts), read only under the configured roots.
 *
 * Against the host: the URI comes from whoever published the BackupCreated, so a copy is read only
 * when its path, and its path with every link resolved, is inside a root; only as a regular file
 * (not a link, device, FIFO or socket); and never past its declared size + 1 byte (a longer file is
 * a mismatch; `/dev/zero` is refused, and a huge file is not read to its end). A copy refused for
 * where it is says only that (`CopyRefusedError`): nothing about a file outside the roots (its
 * existence, type, size or hash) is read, let alone reported.
 *
 * The hashing path reads with a few reused 1 MiB buffers kept in flight (positional reads on the
 * thread pool overlap with hashing on the main thread; reused buffers spare the page faults of fresh
 * allocations): on a warm page cache it keeps up with `openssl dgst -sha256` (see bench/verify.ts).
 */
export class FileCopyReader implements CopyReader {
  readonly scheme = 'file';
  private readonly roots: string[];

  /** `roots`: absolute folders (none: every `file://` copy is refused). */
  constructor(roots: readonly string[]) {
    this.roots = roots.map((r) => resolve(r));
  }

  private refused(uri: string) {
    return new CopyRefusedError(
      this.roots.length
        ? `${uri} is not under the verifier's file roots (VERIFIER_FILE_ROOTS): not read`
        : `no file roots are configured (VERIFIER_FILE_ROOTS, fileRoots, or the backup policy file's filesystem locations): file:// copies are not read`,
    );
  }

  /** Lexically outside every root (or not a local file URI): never read, whatever is there. */
  refuses(uri: string): string | null {
    let path: string;
    try {
      path = pathOf(uri);
    } catch (error) {
      return (error as Error).message;
    }
    return this.roots.some((root) => inside(root, path)) ? null : this.refused(uri).message;
  }

  /** The roots with their own links resolved (a root that does not exist holds nothing). */
  private async realRoots(): Promise<string[]> {
    return (await Promise.all(this.roots.map((r) => realpath(r).catch(() => null)))).filter((r): r is string => r !== null);
  }

  /**
   * Opens the copy if it may be read: lexically under a root (checked before touching the file
   * system, so nothing outside is even looked at), not a link itself, under a root once every link
   * in its folders is resolved, and a regular file.
   */
  private async openChecked(uri: string): Promise<{ handle: FileHandle; path: string; size: number }> {
    const path = pathOf(uri);
    if (!this.roots.some((root) => inside(root, path))) throw this.refused(uri);
    const link = await lstat(path).catch((error) => {
      throw unreadable(path, error);
    });
    if (link.isSymbolicLink()) throw new CopyRefusedError(`${uri} is a symbolic link: copies are read as regular files only, never through links`);
    const real = await realpath(path).catch((error) => {
      throw unreadable(path, error);
    });
    const roots = await this.realRoots();
    if (!roots.some((root) => inside(root, real))) throw this.refused(uri);
    const handle = await open(real, OPEN_FLAGS).catch((error) => {
      throw (error as NodeJS.ErrnoException).code === 'ELOOP' ? new CopyRefusedError(`${uri} is a symbolic link: copies are read as regular files only, never through links`) : unreadable(path, error);
    });
    const stat = await handle.stat().catch(async (error) => {
      await handle.close().catch(() => undefined);
      throw unreadable(path, error);
    });
    if (!stat.isFile()) {
      await handle.close().catch(() => undefined);
      throw new CopyRefusedError(`${uri} is not a regular file: copies are read as regular files only`);
    }
    return { handle, path, size: stat.size };
  }

  async scan(uri: string, onChunk: (chunk: Buffer) => void, options: ReadOptions = {}): Promise<void> {
    const { handle, path } = await this.openChecked(uri);
    const { signal } = options;
    // Never past the declared size + 1: one byte more is enough to tell the file is too long.
    const limit = options.limitBytes === undefined ? Number.POSITIVE_INFINITY : options.limitBytes + 1;
    const buffers = Array.from({ length: READ_AHEAD }, () => Buffer.allocUnsafeSlow(CHUNK));
    const queue: Promise<{ bytesRead: number; buffer: Buffer; wanted: number }>[] = [];
    let position = 0;
    let next = 0;
    const readNext = () => {
      const wanted = Math.min(CHUNK, limit - position);
      if (wanted <= 0) return;
      const buffer = buffers[next]!;
      queue.push(handle.read(buffer, 0, wanted, position).then(({ bytesRead }) => ({ bytesRead, buffer, wanted })));
      position += wanted;
      next = (next + 1) % READ_AHEAD;
    };
    try {
      for (let i = 0; i < READ_AHEAD - 1; i++) readNext();
      while (queue.length) {
        if (signal?.aborted) throw abortError(signal);
        // The buffer about to be refilled is the one handed out READ_AHEAD - 1 chunks ago: already hashed.
        readNext();
        const { bytesRead, buffer, wanted } = await queue.shift()!;
        if (bytesRead === 0) break;
        onChunk(bytesRead === CHUNK ? buffer : buffer.subarray(0, bytesRead));
        if (bytesRead < wanted) break;
      }
    } catch (error) {
      if (error instanceof Error && error.name === 'AbortError') throw error;
      throw error instanceof CopyUnreadableError ? error : unreadable(path, error);
    } finally {
      await Promise.allSettled(queue);
      await handle.close().catch(() => undefined);
    }
  }

  async open(uri: string, options: ReadOptions = {}): Promise<Readable> {
    const { handle } = await this.openChecked(uri);
    // `end` is inclusive: declared size + 1 bytes at most (the digest check then tells a longer file).
    return createReadStream('', { fd: handle, highWaterMark: CHUNK, signal: options.signal, ...(options.limitBytes === undefined ? {} : { end: options.limitBytes }) });
  }

  async openFile(uri: string): Promise<LocalCopyFile> {
    const { handle, size } = await this.openChecked(uri);
    return { handle, sizeBytes: size };
  }

  async readSmall(uri: string, maxBytes: number): Promise<Buffer> {
    const { handle, path, size } = await this.openChecked(uri);
    try {
      if (size > maxBytes) throw new CopyUnreadableError(`${path} is ${size} bytes, more than the ${maxBytes} bytes allowed`);
      const buffer = Buffer.alloc(size + 1); // one byte more tells a file that grew since
      let length = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length > maxBytes) throw new CopyUnreadableError(`${path} is more than the ${maxBytes} bytes allowed`);
        if (length === buffer.length) break;
      }
      return buffer.subarray(0, length);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  async close() {}
}
