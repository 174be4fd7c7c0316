import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import type { z } from 'zod';
import type { BaseBackupFacts, RestoreCheckSchema, RestoreTestSchema } from '@continuity/contracts';
import { decryptStream, type Manifest } from '@continuity/artifacts';
import type { CopyReader } from '../copies/copy-reader.js';

export type RestoreTest = z.infer<typeof RestoreTestSchema>;
export type RestoreCheck = z.infer<typeof RestoreCheckSchema>;

/** A restore test's result, and whether not being able to do it makes the backup unverifiable. */
export interface RestoreTestOutcome {
  result: RestoreTest;
  /** Why the test could not be done (no key, no scratch database, unknown method); null when it ran or was skipped by design. */
  unverifiable: string | null;
}

/** Everything a restore test needs about the backup and the (already hash-checked) copy it reads. */
export interface RestoreTestContext {
  backupId: string;
  resource: string;
  /** The copy read; `sizeBytes` as recorded (reading stops one byte past it). */
  copy: { location: string; uri: string; sizeBytes: number };
  reader: CopyReader;
  /** age recipients when the stored bytes are encrypted. */
  encryption: { recipients: string[] } | null;
  /** Identities matching those recipients (empty: cannot decrypt). */
  identities: string[];
  /** Recorded digest of the artifact before encryption, when known. */
  plaintext: { sha256: string; sizeBytes: number } | null;
  manifest: Manifest | null;
  /** Base backups: WAL range and server identity as the event states them (else the manifest's). */
  basebackup?: BaseBackupFacts | null;
  signal: AbortSignal;
}

export interface RestoreTester {
  run(context: RestoreTestContext): Promise<RestoreTestOutcome>;
}

export const check = (name: string, passed: boolean, detail: string | null): RestoreCheck => ({ name, passed, detail });

/** The plaintext read: its size, and its SHA-256 when there was a recorded one to check it against. */
export interface PlaintextDigest {
  sha256: string | null;
  sizeBytes: number;
}

/**
 * Opens the copy and, when encrypted, decrypts it; `digest()` is the plaintext's size read so far,
 * and its SHA-256 when the copy is encrypted and the backup recorded its plaintext's (the only case
 * `plaintextCheck` compares it). The stored bytes were hash-checked before any restore test: an
 * unencrypted copy is not hashed a second time while a tool reads it.
 */
export interface PlaintextStream {
  stream: Readable;
  /** Size (and SHA-256, when checked) of the plaintext read so far (call once the stream ended). */
  digest(): PlaintextDigest;
  /** Stops reading the copy (a consumer that needed only the beginning). */
  destroy(): void;
}

export const openPlaintext = async (context: RestoreTestContext): Promise<PlaintextStream> => {
  const stored = await context.reader.open(context.copy.uri, { signal: context.signal, limitBytes: context.copy.sizeBytes });
  const plain = context.encryption ? await decryptStream(stored, context.identities, '(age)') : stored;
  const hash = context.encryption && context.plaintext ? createHash('sha256') : null;
  let bytes = 0;
  const tap = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _encoding, callback) {
      hash?.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  plain.on('error', (error) => tap.destroy(error));
  stored.on('error', (error) => tap.destroy(error));
  plain.pipe(tap);
  let digest: PlaintextDigest | null = null;
  return {
    stream: tap,
    digest: () => (digest ??= { sha256: hash?.digest('hex') ?? null, sizeBytes: bytes }),
    destroy: () => {
      plain.unpipe(tap);
      tap.destroy();
      plain.destroy();
      stored.destroy();
    },
  };
};

/** The plaintext check for an encrypted backup: decryption gave exactly the bytes recorded at backup time. */
export const plaintextCheck = (context: RestoreTestContext, actual: PlaintextDigest): RestoreCheck | null => {
  if (!context.encryption || !context.plaintext) return null;
  const ok = actual.sha256 === context.plaintext.sha256 && actual.sizeBytes === context.plaintext.sizeBytes;
  return check(
    'decrypted artifact matches its recorded SHA-256',
    ok,
    ok ? `${actual.sizeBytes} bytes` : `decrypted ${actual.sizeBytes} bytes with SHA-256 ${actual.sha256}; recorded ${context.plaintext.sizeBytes} bytes with ${context.plaintext.sha256}`,
  );
};

export const skipped = (why: string, unverifiable: string | null): RestoreTestOutcome => ({
  result: { status: 'skipped', durationMs: 0, checks: [check('restore test skipped', unverifiable === null, why)] },
  unverifiable,
});

export const outcomeOf = (checks: RestoreCheck[], durationMs: number): RestoreTestOutcome => ({
  result: { status: checks.every((c) => c.passed) ? 'passed' : 'failed', durationMs: Math.round(durationMs), checks },
  unverifiable: null,
});
