import { z } from 'zod';
import { EVENT_LIMITS, Sha256Schema, UriSchema } from '../envelope.js';

/**
 * The audit ledger began signing with a key it had not used before (a rotation, a lost key file, a
 * second installation against the same database). Heads signed earlier keep verifying against
 * their own keys; this event is how auditors learn of the new one.
 */
export const AuditSigningKeyChangedV1Schema = z.object({
  keyId: Sha256Schema.describe('SHA-256 of the new raw Ed25519 public key, hex'),
  publicKeyPem: UriSchema.startsWith('-----BEGIN PUBLIC KEY-----').describe('the new public key (SPKI PEM)'),
  previousKeyId: Sha256Schema.nullable().describe('the key the ledger used before; null for its first key'),
  treeSize: z.int().nonnegative().describe('entries in the ledger when the key was added'),
  attestation: z
    .string()
    .max(EVENT_LIMITS.name)
    .regex(/^[A-Za-z0-9+/=]+$/, 'must be base64')
    .nullable()
    .describe('Ed25519 signature by the previous key over the new raw public key; null when that key was not available (unattested)'),
});

export type AuditSigningKeyChangedV1 = z.infer<typeof AuditSigningKeyChangedV1Schema>;
