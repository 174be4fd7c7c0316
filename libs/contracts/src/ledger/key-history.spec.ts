import { createPublicKey, generateKeyPairSync, KeyObject } from 'node:crypto';
import { checkHeadSignature, keyHistoryProblems, LedgerKey } from './key-history.js';
import { attestKey, keyIdOf, publicKeyPem, signTreeHead } from './tree-head.js';

const aKey = () => generateKeyPairSync('ed25519').privateKey;
const recorded = (privateKey: KeyObject, over: Partial<LedgerKey> = {}): LedgerKey => ({
  keyId: keyIdOf(createPublicKey(privateKey)),
  publicKeyPem: publicKeyPem(privateKey),
  firstUsedAt: '2026-11-30T00:00:00.000Z',
  introducedAtTreeSize: 0,
  previousKeyId: null,
  attestation: null,
  legacyThroughTreeSize: null,
  ...over,
});
const head = (treeSize: number, key: KeyObject) => signTreeHead({ treeSize, rootHash: 'ab'.repeat(32), timestamp: '2026-11-30T10:00:00.000Z' }, key);

describe('key history', () => {
  const old = aKey();
  const current = aKey();
  const keys = new Map([recorded(old), recorded(current)].map((k) => [k.keyId, k]));

  it('verifies each head with the key it names, old and new alike', () => {
    expect(checkHeadSignature(head(10, old), keys)).toMatchObject({ ok: true, verified: true });
    expect(checkHeadSignature(head(20, current), keys)).toMatchObject({ ok: true, verified: true });
  });

  it('refuses a head that names another known key than the one that signed it', () => {
    const switched = { ...head(10, old), keyId: keyIdOf(createPublicKey(current)) };
    expect(checkHeadSignature(switched, keys)).toMatchObject({ ok: false, kind: 'bad-signature' });
  });

  it('refuses a head whose key the history does not hold', () => {
    expect(checkHeadSignature(head(10, aKey()), keys)).toMatchObject({ ok: false, kind: 'unknown-key' });
  });

  it('lets a key recorded without its public key vouch, unverified, only for heads up to where the history began', () => {
    const lost = aKey();
    const legacy = recorded(lost, { publicKeyPem: null, legacyThroughTreeSize: 736 });
    const withLegacy = new Map([...keys, [legacy.keyId, legacy]]);
    expect(checkHeadSignature(head(736, lost), withLegacy)).toMatchObject({ ok: true, verified: false });
    expect(checkHeadSignature(head(737, lost), withLegacy)).toMatchObject({ ok: false, kind: 'unknown-key' });
  });

  it('finds a public key stored under another id and an attestation the previous key did not make', () => {
    const next = aKey();
    const good = recorded(next, { previousKeyId: keyIdOf(createPublicKey(current)), attestation: attestKey(publicKeyPem(next), current) });
    expect(keyHistoryProblems([...keys.values(), good])).toEqual([]);
    const forged = { ...good, attestation: attestKey(publicKeyPem(next), aKey()) };
    const misfiled = { ...recorded(old), keyId: good.keyId.replace(/^./, (c) => (c === '0' ? '1' : '0')) };
    expect(keyHistoryProblems([recorded(current), forged, misfiled])).toEqual([
      expect.stringContaining('attestation does not verify'),
      expect.stringContaining('stored public key has another key id'),
    ]);
  });
});
