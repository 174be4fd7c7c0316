import { z } from 'zod';
import { EVENT_LIMITS, NameSchema, Sha256Schema, UtcTimestampSchema } from '../envelope.js';

/** A signed tree head of the audit ledger: anyone with the public key can check it. */
export const AuditCheckpointSignedV1Schema = z.object({
  treeSize: z.int().nonnegative(),
  rootHash: Sha256Schema,
  timestamp: UtcTimestampSchema,
  signature: z.string().max(EVENT_LIMITS.name).regex(/^[A-Za-z0-9+/=]+$/, 'must be base64').describe('Ed25519 over the canonical JSON of {treeSize, rootHash, timestamp}'),
  keyId: NameSchema.describe('SHA-256 of the public key, hex'),
});

export type AuditCheckpointSignedV1 = z.infer<typeof AuditCheckpointSignedV1Schema>;
