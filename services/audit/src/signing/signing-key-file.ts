import { createPrivateKey, generateKeyPairSync, KeyObject, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';

export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
}

const parseSigningKey = (text: string, where: string): KeyObject => {
  try {
    const key = createPrivateKey(text);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`it is a ${key.asymmetricKeyType} key, not ed25519`);
    return key;
  } catch (error) {
    throw new SigningKeyError(`${where} does not hold an Ed25519 private key in PEM: ${(error as Error).message}`);
  }
};

/**
 * Reads an existing key file, refusing one that group or others may read: whoever can read it can
 * sign tree heads the auditors trust. Checked on the open descriptor, so the file checked is the
 * file read. Returns null when there is no file.
 */
const readKeyFile = (file: string, variable: string): KeyObject | null => {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SigningKeyError(`${variable} (${file}) cannot be read: ${(error as Error).message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new SigningKeyError(`${variable} (${file}) is not a regular file`);
    if ((stat.mode & 0o077) !== 0) {
      throw new SigningKeyError(
        `${variable} (${file}) may be read by group or others (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}): a private signing key must be readable by its owner only; run \`chmod 600 ${file}\` (and consider the key exposed if others could log in)`,
      );
    }
    return parseSigningKey(readFileSync(fd, 'utf8'), `${variable} (${file})`);
  } finally {
    closeSync(fd);
  }
};

/**
 * Writes a new key so that it appears whole or not at all, and only once: the key goes to a fresh
 * temporary file (O_EXCL, mode 0600) which is then hard-linked to its name; link(2) fails when the
 * name exists, so of two processes starting at once exactly one key wins and the other reads it.
 * Returns false when another process won.
 */
const createKeyFile = (file: string, privateKey: KeyObject): boolean => {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}`);
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeSync(fd, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temporary, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(temporary);
  }
};

/**
 * The audit service's Ed25519 key: from `AUDIT_SIGNING_KEY` (PEM), else from the key file (an
 * absolute path, readable by its owner only), else generated and created there exclusively with
 * mode 0600. Node's crypto (OpenSSL) does the Ed25519.
 */
export const loadOrCreateSigningKey = (
  pem: string | undefined,
  file: string | undefined,
  variable = 'AUDIT_SIGNING_KEY_FILE',
): { privateKey: KeyObject; created: boolean } => {
  if (pem) return { privateKey: parseSigningKey(pem, 'AUDIT_SIGNING_KEY'), created: false };
  // The configuration refuses these too; checked here so no caller can end up with a key whose
  // location depends on the directory the process started in.
  if (!file) throw new SigningKeyError(`${variable} is not set (and AUDIT_SIGNING_KEY is not either)`);
  if (!isAbsolute(file)) throw new SigningKeyError(`${variable} must be an absolute path, got a relative one`);
  const existing = readKeyFile(file, variable);
  if (existing) return { privateKey: existing, created: false };
  const { privateKey } = generateKeyPairSync('ed25519');
  if (createKeyFile(file, privateKey)) return { privateKey, created: true };
  return { privateKey: readKeyFile(file, variable)!, created: false };
};
