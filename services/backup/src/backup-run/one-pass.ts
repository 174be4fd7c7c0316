import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { AgeKey, encryptStream, type Digest } from '@continuity/artifacts';
import type { CopyWriter } from './locations/location.js';

export interface OnePassOptions {
  source: Readable;
  /** Sees every plaintext chunk (the tar indexer). */
  observe?: (chunk: Buffer) => void;
  encryption: AgeKey | null;
  writers: readonly CopyWriter[];
  /** Plaintext bytes read so far; called once per chunk written. */
  onProgress?: (bytesDone: number) => void;
  /** Chunks are gathered up to this size before being written (fewer syscalls and publishes). */
  chunkBytes?: number;
}

/** Gathers small chunks (a pipe gives 64 KiB) into larger ones. */
async function* coalesce(source: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of source) {
    parts.push(chunk);
    length += chunk.length;
    if (length >= size) {
      yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
      parts = [];
      length = 0;
    }
  }
  if (length) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
}

/**
 * Reads the source once and writes every chunk to every copy, hashing on the way: SHA-256 of the
 * plaintext and of the stored (possibly encrypted) bytes. Each chunk waits until every copy has
 * accepted it, so the slowest copy sets the pace and memory stays flat (a few MiB) whatever the
 * artifact's size. Throws the first copy's error (after letting the other writes of that chunk
 * settle); the caller aborts every copy and stops the source.
 */
export const streamToCopies = async (options: OnePassOptions): Promise<{ stored: Digest; plaintext: Digest }> => {
  const plainHash = createHash('sha256');
  let plainBytes = 0;
  const tap = async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      plainHash.update(chunk);
      plainBytes += chunk.length;
      options.observe?.(chunk);
      yield chunk;
    }
  };
  const plaintext = tap(options.source);
  const stored: AsyncIterable<Buffer> = options.encryption
    ? await encryptStream(Readable.from(plaintext, { objectMode: false }), options.encryption)
    : plaintext;
  const storedHash = options.encryption ? createHash('sha256') : null;
  let storedBytes = 0;
  for await (const chunk of coalesce(stored, options.chunkBytes ?? 1 << 20)) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    storedHash?.update(buffer);
    storedBytes += buffer.length;
    const results = await Promise.allSettled(options.writers.map((w) => w.write(buffer)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    options.onProgress?.(plainBytes);
  }
  const plain = { sha256: plainHash.digest('hex'), sizeBytes: plainBytes };
  return { plaintext: plain, stored: storedHash ? { sha256: storedHash.digest('hex'), sizeBytes: storedBytes } : plain };
};
