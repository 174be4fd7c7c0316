import { chmodSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '@continuity/runtime';
import { auditEnvSchema } from '../config/audit.config.js';
import { keyIdOf } from '@continuity/contracts/ledger';
import { loadOrCreateSigningKey, SigningKeyError } from './signing-key-file.js';

// Lets a test run code at the moment this process has decided to create a key: where a second
// process starting at the same time would write its own.
let mockWhileGenerating: (() => void) | null = null;
jest.mock('node:crypto', () => {
  const actual = jest.requireActual('node:crypto');
  return {
    ...actual,
    generateKeyPairSync: (...args: unknown[]) => {
      const pair = actual.generateKeyPairSync(...args);
      mockWhileGenerating?.();
      return pair;
    },
  };
});
// Imported after the mock so the other process's key is a real one.
const { createPublicKey, generateKeyPairSync } = jest.requireActual('node:crypto') as typeof import('node:crypto');

const dir = mkdtempSync(join(tmpdir(), 'continuity-audit-key-'));
const pemOf = () => generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
const idOf = (key: import('node:crypto').KeyObject) => keyIdOf(createPublicKey(key));

describe('the signing key file', () => {
  afterEach(() => (mockWhileGenerating = null));

  it('must be an absolute path: a relative one is a configuration error naming the variable', () => {
    const attempt = () => loadConfig(auditEnvSchema, { AUDIT_SIGNING_KEY_FILE: 'keys/audit.pem' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/AUDIT_SIGNING_KEY_FILE.*must be an absolute path/);
    expect(() => loadConfig(auditEnvSchema, { AUDIT_PREVIOUS_SIGNING_KEY_FILE: 'old.pem', AUDIT_SIGNING_KEY_FILE: join(dir, 'k.pem') })).toThrow(/AUDIT_PREVIOUS_SIGNING_KEY_FILE.*absolute/);
    expect(() => loadConfig(auditEnvSchema, {})).toThrow(/AUDIT_SIGNING_KEY_FILE.*required/);
    expect(loadConfig(auditEnvSchema, { AUDIT_SIGNING_KEY_FILE: join(dir, 'k.pem') }).AUDIT_SIGNING_KEY_FILE).toBe(join(dir, 'k.pem'));
    expect(() => loadOrCreateSigningKey(undefined, 'relative.pem')).toThrow(/absolute path/);
  });

  it('is created with mode 0600 and read back as the same key', () => {
    const file = join(dir, 'new', 'audit.pem');
    const first = loadOrCreateSigningKey(undefined, file);
    expect(first.created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = loadOrCreateSigningKey(undefined, file);
    expect(again.created).toBe(false);
    expect(idOf(again.privateKey)).toBe(idOf(first.privateKey));
    expect(readdirSync(join(dir, 'new'))).toEqual(['audit.pem']); // no temporary file left behind
  });

  it('is refused when group or others may read it, saying how to fix it', () => {
    for (const mode of [0o640, 0o604, 0o644]) {
      const file = join(dir, `open-${mode.toString(8)}.pem`);
      writeFileSync(file, pemOf(), { mode });
      chmodSync(file, mode);
      expect(() => loadOrCreateSigningKey(undefined, file)).toThrow(SigningKeyError);
      expect(() => loadOrCreateSigningKey(undefined, file)).toThrow(`chmod 600 ${file}`);
      chmodSync(file, 0o600);
      expect(loadOrCreateSigningKey(undefined, file).created).toBe(false);
    }
  });

  it('is created exclusively: when another process writes its key first, this one uses that key', () => {
    const file = join(dir, 'race.pem');
    const theirs = pemOf();
    mockWhileGenerating = () => writeFileSync(file, theirs, { mode: 0o600, flag: 'wx' });
    const mine = loadOrCreateSigningKey(undefined, file);
    expect(mine.created).toBe(false);
    expect(mine.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()).toBe(theirs);
    expect(readdirSync(dir).filter((f) => f.includes('race'))).toEqual(['race.pem']);
  });
});
