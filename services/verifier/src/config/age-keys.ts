import { readFile } from 'node:fs/promises';
import { identityToRecipient } from 'age-encryption';

/**
 * age identities the verifier may decrypt with, each with the recipient (public key) it answers
 * to: an encrypted backup names its recipients, so the identity to use is found by matching them.
 * (Copied from the backup service's key-file format: `AGE-SECRET-KEY-1…` identities and `age1…`
 * recipients, one per line, `#` comments. Recipient-only lines are allowed and ignored here: they
 * cannot decrypt.)
 */
export interface AgeIdentity {
  file: string;
  identity: string;
  recipient: string;
}

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
  readonly code = 'VERIFY.KEY_FILE_INVALID';
}

export const parseKeyFile = async (file: string, text: string): Promise<AgeIdentity[]> => {
  const out: AgeIdentity[] = [];
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const [i, line] of lines.entries()) {
    if (line.startsWith('AGE-SECRET-KEY-')) {
      try {
        out.push({ file, identity: line, recipient: await identityToRecipient(line) });
      } catch (error) {
        throw new KeyFileError(`${file}: key ${i + 1} is not a valid age identity: ${(error as Error).message}`);
      }
    } else if (!line.startsWith('age1')) {
      throw new KeyFileError(`${file}: key ${i + 1} is neither an age identity (AGE-SECRET-KEY-1…) nor a recipient (age1…)`);
    }
  }
  return out;
};

export const loadKeyFile = async (file: string): Promise<AgeIdentity[]> => {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new KeyFileError(`cannot read key file ${file}: ${(error as Error).message}`);
  }
  return parseKeyFile(file, text);
};

/** The identities whose recipient is one the backup was encrypted to. */
export const identitiesFor = (keys: readonly AgeIdentity[], recipients: readonly string[]): string[] =>
  keys.filter((k) => recipients.includes(k.recipient)).map((k) => k.identity);
