import { createHash, createPublicKey, KeyObject, sign, verify } from 'node:crypto';
import { canonicalBytes } from './leaf.js';

/**
 * Signed tree heads of the audit ledger (Ed25519 over RFC 8785 canonical JSON) and the key
 * attestations of its key history: pure, shared by the audit service that signs and every reader
 * that checks a head against keys it pinned (the offline verifier, a restore's ledger check).
 */

/** What a signed tree head commits to. */
export interface TreeHead {
  treeSize: number;
  rootHash: string;
  timestamp: string;
}

export interface SignedTreeHead extends TreeHead {
  /** Ed25519 signature over JCS({treeSize, rootHash, timestamp}), base64. */
  signature: string;
  /** SHA-256 of the raw public key, hex. */
  keyId: string;
}

/** The exact bytes signed: RFC 8785 canonical JSON of the three fields, nothing else. */
export const treeHeadBytes = (head: TreeHead): Buffer =>
  canonicalBytes({ treeSize: head.treeSize, rootHash: head.rootHash, timestamp: head.timestamp });

/** The 32 raw bytes of an Ed25519 public key (the tail of its SPKI DER). */
const rawPublicKey = (publicKey: KeyObject): Buffer => publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);

export const keyIdOf = (publicKey: KeyObject): string => createHash('sha256').update(rawPublicKey(publicKey)).digest('hex');

/** The key id of a public key in PEM; null when the text is not a public key. */
export const keyIdOfPem = (pem: string): string | null => {
  try {
    return keyIdOf(createPublicKey(pem));
  } catch {
    return null;
  }
};

/**
 * A key change vouched for by the key before it: the old key's Ed25519 signature over the new
 * key's raw public key, base64.
 */
export const attestKey = (newPublicKeyPem: string, oldPrivateKey: KeyObject): string =>
  sign(null, rawPublicKey(createPublicKey(newPublicKeyPem)), oldPrivateKey).toString('base64');

export const verifyAttestation = (newPublicKeyPem: string, attestation: string, oldPublicKeyPem: string): boolean => {
  try {
    return verify(null, rawPublicKey(createPublicKey(newPublicKeyPem)), createPublicKey(oldPublicKeyPem), Buffer.from(attestation, 'base64'));
  } catch {
    return false;
  }
};

export const signTreeHead = (head: TreeHead, privateKey: KeyObject): SignedTreeHead => ({
  ...head,
  signature: sign(null, treeHeadBytes(head), privateKey).toString('base64'),
  keyId: keyIdOf(createPublicKey(privateKey)),
});

/** Checks a head's signature with a public key (PEM or KeyObject); false on any mismatch. */
export const verifyTreeHead = (head: SignedTreeHead, publicKey: KeyObject | string): boolean => {
  try {
    const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
    return verify(null, treeHeadBytes(head), key, Buffer.from(head.signature, 'base64'));
  } catch {
    return false;
  }
};

export const publicKeyPem = (privateKey: KeyObject): string =>
  createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString();
