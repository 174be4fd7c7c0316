import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { AgeKey } from './keys.js';

/**
 * Encryption at rest with the age format (age-encryption.org/v1: X25519 + ChaCha20-Poly1305 in
 * 64 KiB authenticated chunks, so a damaged byte is an error, never wrong output), through the
 * `age-encryption` library: no home-made crypto. Both directions stream: memory stays flat.
 * The library (and its post-quantum and curve dependencies) is loaded when first used: a process
 * that never meets an encrypted backup (a CLI restoring a plain one) does not pay for it.
 */
export const AGE_MAGIC = 'age-encryption.org/v1';

export class DecryptionError extends Error {
  override readonly name = 'DecryptionError';
  readonly code = 'RESTORE.DECRYPTION_FAILED';
}

/** A Node stream of the age encryption of `plaintext` to every recipient of `key`. */
export const encryptStream = async (plaintext: Readable, key: AgeKey): Promise<Readable> => {
  const { Encrypter } = await import('age-encryption');
  const encrypter = new Encrypter();
  for (const recipient of key.recipients) encrypter.addRecipient(recipient);
  const web = Readable.toWeb(plaintext) as unknown as ReadableStream<Uint8Array>;
  const encrypted = await encrypter.encrypt(web);
  return Readable.fromWeb(encrypted as unknown as WebReadableStream<Uint8Array>);
};

/** Decrypts an age stream; throws `DecryptionError` naming the problem (no key, wrong key, damaged) and `what` was being decrypted. */
export const decryptStream = async (ciphertext: Readable, identities: readonly string[], what: string): Promise<Readable> => {
  if (!identities.length) {
    ciphertext.destroy();
    throw new DecryptionError(`${what} is encrypted (age) and no identity was given: pass the key file that holds its AGE-SECRET-KEY (--key)`);
  }
  const { Decrypter } = await import('age-encryption');
  const decrypter = new Decrypter();
  for (const identity of identities) decrypter.addIdentity(identity);
  try {
    const plain = await decrypter.decrypt(Readable.toWeb(ciphertext) as unknown as ReadableStream<Uint8Array>);
    return Readable.fromWeb(plain as unknown as WebReadableStream<Uint8Array>);
  } catch (error) {
    ciphertext.destroy();
    throw new DecryptionError(`cannot decrypt ${what}: ${(error as Error).message} (is this the key the backup was encrypted to?)`, { cause: error });
  }
};
