import { readFile } from 'node:fs/promises';

/**
 * age key files: `AGE-SECRET-KEY-1…` identities (encrypt and decrypt) and `age1…` recipients
 * (encrypt only, so the backup host need not hold the secret), one per line, `#` starts a comment.
 * The writer encrypts to every key of a file (`AgeKey`); a reader decrypts with the identities
 * whose recipient an encrypted backup names (`AgeIdentity`, `identitiesFor`). The age library is
 * loaded when a key is first checked (see `encryption.ts`).
 */
export interface AgeKey {
  file: string;
  /** Public keys every backup is encrypted to. */
  recipients: string[];
  /** Secret keys that can decrypt (empty for a recipients-only file). */
  identities: string[];
}

/** An identity a reader may decrypt with, and the recipient (public key) it answers to. */
export interface AgeIdentity {
  file: string;
  identity: string;
  recipient: string;
}

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
  readonly code = 'ARTIFACT.KEY_FILE_INVALID';
}

const readKeyFile = async (file: string): Promise<string> => {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new KeyFileError(`cannot read key file ${file}: ${(error as Error).message}`);
  }
};

/** The file's keys, comments and blank lines left out, in order (so the first bad one is the one named). */
const keyLines = (text: string) =>
  text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((line, i) => ({ i, line, kind: line.startsWith('AGE-SECRET-KEY-') ? ('identity' as const) : line.startsWith('age1') ? ('recipient' as const) : null }));

const notAKey = (file: string, i: number) => new KeyFileError(`${file}: key ${i + 1} is neither an age identity (AGE-SECRET-KEY-1…) nor a recipient (age1…)`);

const recipientOf = async (file: string, i: number, identity: string): Promise<string> => {
  const { identityToRecipient } = await import('age-encryption');
  try {
    return await identityToRecipient(identity);
  } catch (error) {
    throw new KeyFileError(`${file}: key ${i + 1} is not a valid age identity: ${(error as Error).message}`);
  }
};

/** The writer's view: every recipient to encrypt to (checked), and the identities. */
export const parseAgeKey = async (file: string, text: string): Promise<AgeKey> => {
  const { Encrypter } = await import('age-encryption');
  const identities: string[] = [];
  const recipients: string[] = [];
  for (const { i, line, kind } of keyLines(text)) {
    if (!kind) throw notAKey(file, i);
    if (kind === 'identity') {
      recipients.push(await recipientOf(file, i, line));
      identities.push(line);
      continue;
    }
    try {
      new Encrypter().addRecipient(line);
      recipients.push(line);
    } catch (error) {
      throw new KeyFileError(`${file}: key ${i + 1} is not a valid age recipient: ${(error as Error).message}`);
    }
  }
  if (!recipients.length) throw new KeyFileError(`${file} holds no age identity or recipient`);
  return { file, recipients, identities };
};

export const loadAgeKey = async (file: string): Promise<AgeKey> => parseAgeKey(file, await readKeyFile(file));

/** A reader's view: the identities, each with its recipient. Recipient lines are allowed and left out: they cannot decrypt. */
export const parseIdentities = async (file: string, text: string): Promise<AgeIdentity[]> => {
  const out: AgeIdentity[] = [];
  for (const { i, line, kind } of keyLines(text)) {
    if (!kind) throw notAKey(file, i);
    if (kind === 'identity') out.push({ file, identity: line, recipient: await recipientOf(file, i, line) });
  }
  return out;
};

export const loadIdentities = async (file: string): Promise<AgeIdentity[]> => parseIdentities(file, await readKeyFile(file));

/** The identities whose recipient is one the backup was encrypted to. */
export const identitiesFor = (keys: readonly AgeIdentity[], recipients: readonly string[]): string[] =>
  keys.filter((k) => recipients.includes(k.recipient)).map((k) => k.identity);
