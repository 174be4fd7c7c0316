import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';

export interface ReadOptions {
  signal?: AbortSignal;
  /** The declared size: a reader stops after this many bytes + 1 (one more tells a longer copy). */
  limitBytes?: number;
}

/**
 * Reads the stored bytes of a copy, wherever it is. One reader per URI scheme; a scheme without a
 * reader makes the copy `unverifiable` (never silently "good").
 */
export interface CopyReader {
  /** `file`, `nats-object`: what `<scheme>://` it reads. */
  readonly scheme: string;
  /**
   * Calls `onChunk` with every chunk of the copy, in order, as fast as it can (the hashing path).
   * A chunk is only valid during the call: readers reuse their buffers.
   */
  scan(uri: string, onChunk: (chunk: Buffer) => void, options?: ReadOptions): Promise<void>;
  /** The copy as a stream (restore tests); rejects when it cannot be opened. */
  open(uri: string, options?: ReadOptions): Promise<Readable>;
  /**
   * The copy as an open regular file, checked as `open` checks it, for a tool that must seek in it
   * (`pg_restore --jobs`). Only readers of local files have it; the caller closes the handle.
   */
  openFile?(uri: string): Promise<LocalCopyFile>;
  /** A small object such as a manifest, whole; rejects when missing or larger than `maxBytes`. */
  readSmall(uri: string, maxBytes: number): Promise<Buffer>;
  /**
   * Why this reader will never read `uri` (it is outside what the verifier may read), checked
   * without touching anything; null when it may try. Readers without such limits leave it out.
   */
  refuses?(uri: string): string | null;
  close(): Promise<void>;
}

/** A copy opened as a local file: its descriptor stays valid however the path changes after the checks. */
export interface LocalCopyFile {
  handle: FileHandle;
  /** Its size when opened. */
  sizeBytes: number;
}

/** The copy is missing, unreadable, or not what its URI says. */
export class CopyUnreadableError extends Error {
  override readonly name = 'CopyUnreadableError';
  readonly code = 'VERIFY.COPY_UNREADABLE';
}

/**
 * The copy is somewhere this verifier must not read (outside its file roots, a link, not a regular
 * file): the copy is unverifiable, and the message says nothing about what is there.
 */
export class CopyRefusedError extends Error {
  override readonly name = 'CopyRefusedError';
  readonly code = 'VERIFY.COPY_REFUSED';
}

/** This verifier has no reader for the copy's location type. */
export class UnsupportedLocationError extends Error {
  override readonly name = 'UnsupportedLocationError';
  readonly code = 'VERIFY.LOCATION_UNSUPPORTED';
}

export const schemeOf = (uri: string): string | null => /^([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1]?.toLowerCase() ?? null;

export const abortError = (signal: AbortSignal) =>
  signal.reason instanceof Error ? signal.reason : Object.assign(new Error('verification aborted'), { name: 'AbortError' });

/** Picks the reader for a URI by its scheme. */
export class CopyReaders {
  private readonly byScheme: Map<string, CopyReader>;

  constructor(readers: CopyReader[]) {
    this.byScheme = new Map(readers.map((r) => [r.scheme, r]));
  }

  /** The reader for `uri`; throws `UnsupportedLocationError` naming the schemes it knows. */
  for(uri: string): CopyReader {
    const scheme = schemeOf(uri);
    const reader = scheme ? this.byScheme.get(scheme) : undefined;
    if (!reader) {
      const known = [...this.byScheme.keys()].map((s) => `${s}://`).join(', ');
      throw new UnsupportedLocationError(
        scheme ? `location type ${scheme}:// is not one this verifier can read (it reads ${known})` : `"${uri}" is not a URI this verifier can read (it reads ${known})`,
      );
    }
    return reader;
  }

  /** Why `uri` will never be read here (see `CopyReader.refuses`), or null; an unknown scheme is not refused (it is unverifiable). */
  refuses(uri: string): string | null {
    const reader = this.byScheme.get(schemeOf(uri) ?? '');
    return reader?.refuses?.(uri) ?? null;
  }

  async close() {
    await Promise.all([...this.byScheme.values()].map((r) => r.close().catch(() => undefined)));
  }
}
