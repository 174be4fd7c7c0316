import { keyIdOfPem, SignedTreeHead, verifyAttestation, verifyTreeHead } from './tree-head-signer.js';

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
