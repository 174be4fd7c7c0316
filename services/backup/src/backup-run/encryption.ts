import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Decrypter, Encrypter, identityToRecipient } from 'age-encryption';

/**
 * Encryption at rest with the age format (age-encryption.org/v1: X25519 + ChaCha20-Poly1305 in
 * 64 KiB authenticated chunks), through the `age-encryption` library: no home-made crypto.
 *
 * A key file holds age identities (`AGE-SECRET-KEY-1…`: encrypt and decrypt) and/or recipients
 * (`age1…`: encrypt only, so the backup host need not hold the secret). `#` starts a comment.
 */
export interface AgeKey {
  file: string;
  /** Public keys every backup is encrypted to. */
  recipients: string[];
  /** Secret keys that can decrypt (empty for a recipients-only file). */
  identities: string[];
}

export class EncryptionKeyError extends Error {
  override readonly name = 'EncryptionKeyError';
  readonly code = 'BACKUP.KEY_INVALID';
}

export class DecryptionError extends Error {
  override readonly name = 'DecryptionError';
  readonly code = 'RESTORE.DECRYPTION_FAILED';
}

export const AGE_MAGIC = 'age-encryption.org/v1';

export const loadAgeKey = async (file: string): Promise<AgeKey> => {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new EncryptionKeyError(`cannot read key file ${file}: ${(error as Error).message}`);
  }
  return parseAgeKey(file, text);
};

export const parseAgeKey = async (file: string, text: string): Promise<AgeKey> => {
  const identities: string[] = [];
  const recipients: string[] = [];
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const [i, line] of lines.entries()) {
    if (line.startsWith('AGE-SECRET-KEY-')) {
      try {
        recipients.push(await identityToRecipient(line));
        identities.push(line);
      } catch (error) {
        throw new EncryptionKeyError(`${file}: key ${i + 1} is not a valid age identity: ${(error as Error).message}`);
      }
    } else if (line.startsWith('age1')) {
      try {
        new Encrypter().addRecipient(line);
        recipients.push(line);
      } catch (error) {
        throw new EncryptionKeyError(`${file}: key ${i + 1} is not a valid age recipient: ${(error as Error).message}`);
      }
    } else {
      throw new EncryptionKeyError(`${file}: key ${i + 1} is neither an age identity (AGE-SECRET-KEY-1…) nor a recipient (age1…)`);
    }
  }
  if (!recipients.length) throw new EncryptionKeyError(`${file} holds no age identity or recipient`);
  return { file, recipients, identities };
};

/** A Node stream of the age encryption of `plaintext` (streaming: memory stays flat). */
export const encryptStream = async (plaintext: Readable, key: AgeKey): Promise<Readable> => {
  const encrypter = new Encrypter();
  for (const recipient of key.recipients) encrypter.addRecipient(recipient);
  const web = Readable.toWeb(plaintext) as unknown as ReadableStream<Uint8Array>;
  const encrypted = await encrypter.encrypt(web);
  return Readable.fromWeb(encrypted as unknown as WebReadableStream<Uint8Array>);
};

/** Decrypts an age stream; throws `DecryptionError` naming the problem (no key, wrong key, damaged). */
export const decryptStream = async (ciphertext: Readable, identities: readonly string[], what: string): Promise<Readable> => {
  if (!identities.length) {
    ciphertext.destroy();
    throw new DecryptionError(`${what} is encrypted (age) and no identity was given: pass the key file that holds its AGE-SECRET-KEY (--key)`);
  }
  const decrypter = new Decrypter();
  for (const identity of identities) decrypter.addIdentity(identity);
  try {
    const plain = await decrypter.decrypt(Readable.toWeb(ciphertext) as unknown as ReadableStream<Uint8Array>);
    return Readable.fromWeb(plain as unknown as WebReadableStream<Uint8Array>);
  } catch (error) {
    ciphertext.destroy();
    throw new DecryptionError(`cannot decrypt ${what}: ${(error as Error).message} (is this the key the backup was encrypted to?)`);
  }
};
