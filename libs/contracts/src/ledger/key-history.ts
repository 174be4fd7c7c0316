import { keyIdOfPem, SignedTreeHead, verifyAttestation, verifyTreeHead } from './tree-head.js';

/** One key of the ledger's key history (`audit.signing_keys`), as stored and as exported. */
export interface LedgerKey {
  keyId: string;
  /** Null only for a key that signed heads before the ledger kept its keys (see legacyThroughTreeSize). */
  publicKeyPem: string | null;
  firstUsedAt: string;
  /** Entries in the ledger when the key was added. */
  introducedAtTreeSize: number;
  previousKeyId: string | null;
  /** The previous key's signature over this key's raw public key; null when unattested. */
  attestation: string | null;
  /** For a key recorded without its public key: the largest head it may vouch for (unverifiable). */
  legacyThroughTreeSize: number | null;
}

export type HeadSignatureVerdict =
  | { ok: true; verified: boolean; detail: string }
  | { ok: false; kind: 'unknown-key' | 'bad-signature'; detail: string };

/**
 * Checks one head against the key it names, from a key history: unknown key → not ok; a key whose
 * public key was never recorded vouches (unverified) only for heads it signed before the history
 * began; otherwise the signature must verify with that key, not with any other.
 */
export const checkHeadSignature = (head: SignedTreeHead, keys: ReadonlyMap<string, LedgerKey>): HeadSignatureVerdict => {
  const key = keys.get(head.keyId);
  const short = head.keyId.slice(0, 16);
  if (!key) return { ok: false, kind: 'unknown-key', detail: `signed head of size ${head.treeSize} names key ${short}…, which the ledger's key history does not hold` };
  if (key.publicKeyPem === null) {
    return key.legacyThroughTreeSize !== null && head.treeSize <= key.legacyThroughTreeSize
      ? { ok: true, verified: false, detail: `signed head of size ${head.treeSize} predates the key history; its key ${short}… was never recorded` }
      : { ok: false, kind: 'unknown-key', detail: `signed head of size ${head.treeSize} names key ${short}…, whose public key was never recorded` };
  }
  return verifyTreeHead(head, key.publicKeyPem)
    ? { ok: true, verified: true, detail: `signed head of size ${head.treeSize} verifies with its key ${short}…` }
    : { ok: false, kind: 'bad-signature', detail: `signed head of size ${head.treeSize} does not verify with its key ${short}…` };
};

/** What is wrong with the key history itself: a public key under another key's id, a broken attestation. */
export const keyHistoryProblems = (keys: readonly LedgerKey[]): string[] => {
  const byId = new Map(keys.map((k) => [k.keyId, k]));
  const problems: string[] = [];
  for (const key of keys) {
    if (key.publicKeyPem !== null && keyIdOfPem(key.publicKeyPem) !== key.keyId) problems.push(`key ${key.keyId.slice(0, 16)}…: the stored public key has another key id`);
    const previous = key.previousKeyId ? byId.get(key.previousKeyId) : undefined;
    if (key.attestation && key.publicKeyPem && previous?.publicKeyPem && !verifyAttestation(key.publicKeyPem, key.attestation, previous.publicKeyPem)) {
      problems.push(`key ${key.keyId.slice(0, 16)}…: its attestation does not verify with the previous key ${previous.keyId.slice(0, 16)}…`);
    }
  }
  return problems;
};

const short = (keyId: string) => `${keyId.slice(0, 16)}…`;

/** A key known only by its public key (pinned by an operator): no place in a history. */
export const pinnedKey = (pem: string, keyId: string): LedgerKey => ({
  keyId,
  publicKeyPem: pem,
  firstUsedAt: '',
  introducedAtTreeSize: 0,
  previousKeyId: null,
  attestation: null,
  legacyThroughTreeSize: null,
});

/**
 * The keys a reader may check heads with: the ones it pinned (obtained out of band), and every key
 * of the ledger's (untrusted) key history that a trusted key attested, down the chain. A history
 * entry whose public key does not match its id, or whose attestation does not verify, is never
 * trusted. Keys recorded without a public key are kept: they make no head verify, they only mark
 * old heads as unverifiable. `notes` says which keys were trusted by attestation and which pinned
 * texts are not keys.
 */
export const trustedKeys = (pinnedPems: readonly string[], history: readonly LedgerKey[]): { keys: LedgerKey[]; notes: { ok: boolean; what: string }[] } => {
  const notes: { ok: boolean; what: string }[] = [];
  const trusted = new Map<string, LedgerKey>();
  for (const pem of pinnedPems) {
    const keyId = keyIdOfPem(pem);
    if (!keyId) notes.push({ ok: false, what: 'a pinned public key file holds something that is not a public key' });
    else trusted.set(keyId, pinnedKey(pem, keyId));
  }
  for (let grew = true; grew; ) {
    grew = false;
    for (const key of history) {
      const previous = key.previousKeyId ? trusted.get(key.previousKeyId) : undefined;
      if (trusted.has(key.keyId) || !key.publicKeyPem || !key.attestation || !previous?.publicKeyPem) continue;
      if (keyIdOfPem(key.publicKeyPem) !== key.keyId || !verifyAttestation(key.publicKeyPem, key.attestation, previous.publicKeyPem)) continue;
      trusted.set(key.keyId, key);
      notes.push({ ok: true, what: `key ${short(key.keyId)} is trusted: key ${short(previous.keyId)} signed it` });
      grew = true;
    }
  }
  for (const key of history) if (key.publicKeyPem === null && !trusted.has(key.keyId)) trusted.set(key.keyId, key);
  return { keys: [...trusted.values()], notes };
};

/** Each `-----BEGIN PUBLIC KEY-----` block of a text: one file may carry a ledger's every key. */
export const pemBlocks = (text: string): string[] => {
  const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
  return blocks.length ? blocks.map((b) => `${b}\n`) : [text];
};
