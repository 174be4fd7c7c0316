import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { abortError, CopyReader, CopyUnreadableError, UnsupportedLocationError } from './copy-reader.js';

const CHUNK = 1 << 20;
const READ_AHEAD = 3;

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

/**
 * `file://` copies (local disks, NAS mounts). The hashing path reads with a few reused 1 MiB
 * buffers kept in flight (positional reads on the thread pool overlap with hashing on the main
 * thread; reused buffers spare the page faults of fresh allocations): on a warm page cache it
 * keeps up with `openssl dgst -sha256` (see bench/verify.ts).
 */
export class FileCopyReader implements CopyReader {
  readonly scheme = 'file';

  async scan(uri: string, onChunk: (chunk: Buffer) => void, signal?: AbortSignal): Promise<void> {
    const path = pathOf(uri);
    const handle = await open(path, 'r').catch((error) => {
      throw unreadable(path, error);
    });
    const buffers = Array.from({ length: READ_AHEAD }, () => Buffer.allocUnsafeSlow(CHUNK));
    const queue: Promise<{ bytesRead: number; buffer: Buffer }>[] = [];
    let position = 0;
    let next = 0;
    const readNext = () => {
      queue.push(handle.read(buffers[next]!, 0, CHUNK, position));
      position += CHUNK;
      next = (next + 1) % READ_AHEAD;
    };
    try {
      for (let i = 0; i < READ_AHEAD - 1; i++) readNext();
      for (;;) {
        if (signal?.aborted) throw abortError(signal);
        // The buffer about to be refilled is the one handed out READ_AHEAD - 1 chunks ago: already hashed.
        readNext();
        const { bytesRead, buffer } = await queue.shift()!;
        if (bytesRead === 0) break;
        onChunk(bytesRead === CHUNK ? buffer : buffer.subarray(0, bytesRead));
        if (bytesRead < CHUNK) break;
      }
    } catch (error) {
      if (error instanceof Error && error.name === 'AbortError') throw error;
      throw error instanceof CopyUnreadableError ? error : unreadable(path, error);
    } finally {
      await Promise.allSettled(queue);
      await handle.close().catch(() => undefined);
    }
  }

  async open(uri: string, signal?: AbortSignal): Promise<Readable> {
    const path = pathOf(uri);
    await stat(path).catch((error) => {
      throw unreadable(path, error);
    });
    return createReadStream(path, { highWaterMark: CHUNK, signal });
  }

  async readSmall(uri: string, maxBytes: number): Promise<Buffer> {
    const path = pathOf(uri);
    const handle = await open(path, 'r').catch((error) => {
      throw unreadable(path, error);
    });
    try {
      const { size } = await handle.stat();
      if (size > maxBytes) throw new CopyUnreadableError(`${path} is ${size} bytes, more than the ${maxBytes} bytes allowed`);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async close() {}
}
