import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Decrypter } from 'age-encryption';

/** The age decryption of `ciphertext` as a stream (authenticated per 64 KiB chunk: a damaged byte is an error, never wrong output). */
export const decryptStream = async (ciphertext: Readable, identities: readonly string[]): Promise<Readable> => {
  const decrypter = new Decrypter();
  for (const identity of identities) decrypter.addIdentity(identity);
  try {
    const plain = await decrypter.decrypt(Readable.toWeb(ciphertext) as unknown as ReadableStream<Uint8Array>);
    return Readable.fromWeb(plain as unknown as WebReadableStream<Uint8Array>);
  } catch (error) {
    ciphertext.destroy();
    throw new Error(`cannot decrypt (age): ${(error as Error).message}`, { cause: error });
  }
};
