import { createHash } from 'node:crypto';
import type { BackupCopyV2, CopyCheck } from '@continuity/contracts';
import { CopyReaders, CopyRefusedError, CopyUnreadableError, UnsupportedLocationError } from './copy-reader.js';

/** A copy's check plus how the verdict must count it. */
export interface CopyOutcome {
  check: CopyCheck;
  /** `good`: readable, size and hash match; `bad`: any of them not; `unverifiable`: no reader for it. */
  status: 'good' | 'bad' | 'unverifiable';
}

const isAbort = (error: unknown) => (error as Error)?.name === 'AbortError';

/** MB (10^6 bytes) per second, or null when nothing meaningful was timed. */
export const mbPerSec = (bytes: number, ms: number): number | null => (bytes > 0 && ms > 0 ? Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10 : null);

/**
 * Reads one copy end to end through SHA-256 and compares size and hash with what the backup
 * recorded for it, never past the recorded size + 1 byte (a longer copy is a mismatch, found without
 * reading it all). Never throws for the copy's sake (a missing or damaged copy is a result); only
 * an abort propagates. A copy the reader refuses to read (outside the file roots, not a regular
 * file) is `unverifiable`, with the reader's words only.
 */
export const checkCopy = async (readers: CopyReaders, copy: Pick<BackupCopyV2, 'location' | 'uri' | 'sha256' | 'sizeBytes'>, signal?: AbortSignal): Promise<CopyOutcome> => {
  const base = { location: copy.location, uri: copy.uri };
  let reader;
  try {
    reader = readers.for(copy.uri);
  } catch (error) {
    if (!(error instanceof UnsupportedLocationError)) throw error;
    return {
      status: 'unverifiable',
      check: { ...base, readable: false, sizeMatch: false, hashMatch: false, actualSha256: null, durationMs: 0, mbPerSec: null, error: error.message },
    };
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const started = performance.now();
  try {
    await reader.scan(
      copy.uri,
      (chunk) => {
        hash.update(chunk);
        bytes += chunk.length;
      },
      { signal, limitBytes: copy.sizeBytes },
    );
  } catch (error) {
    // Stopped (shutdown or the verification's deadline): the caller says what that means.
    if (isAbort(error) || signal?.aborted) throw error;
    const durationMs = Math.round(performance.now() - started);
    if (error instanceof UnsupportedLocationError || error instanceof CopyRefusedError) {
      return { status: 'unverifiable', check: { ...base, readable: false, sizeMatch: false, hashMatch: false, actualSha256: null, durationMs, mbPerSec: null, error: error.message } };
    }
    const message = error instanceof CopyUnreadableError ? error.message : `read failed: ${(error as Error).message}`;
    return {
      status: 'bad',
      check: { ...base, readable: false, sizeMatch: false, hashMatch: false, actualSha256: null, durationMs, mbPerSec: null, error: bytes ? `${message} (after ${bytes} bytes)` : message },
    };
  }
  const elapsed = performance.now() - started;
  const longer = bytes > copy.sizeBytes;
  // Of a longer copy only the first size + 1 bytes were read: their hash would mean nothing.
  const actualSha256 = longer ? null : hash.digest('hex');
  const sizeMatch = bytes === copy.sizeBytes;
  const hashMatch = actualSha256 === copy.sha256;
  const problems = [
    sizeMatch ? null : longer ? `holds more than the ${copy.sizeBytes} bytes expected (read stopped there)` : `holds ${bytes} bytes, expected ${copy.sizeBytes}`,
    hashMatch || longer ? null : `SHA-256 is ${actualSha256}, expected ${copy.sha256}`,
  ].filter((p): p is string => p !== null);
  return {
    status: problems.length ? 'bad' : 'good',
    check: {
      ...base,
      readable: true,
      sizeMatch,
      hashMatch,
      actualSha256,
      durationMs: Math.round(elapsed * 10) / 10,
      mbPerSec: mbPerSec(bytes, elapsed),
      error: problems.length ? problems.join('; ') : null,
    },
  };
};
