import { z } from 'zod';
import { baseEnvSchema } from '@continuity/runtime';

export const auditEnvSchema = baseEnvSchema(3004).extend({
  /** Ed25519 private key (PKCS#8 PEM) in the environment; wins over the file. */
  AUDIT_SIGNING_KEY: z.string().optional(),
  /** Where the key lives; generated and saved there (mode 0600) on first start if absent. */
  AUDIT_SIGNING_KEY_FILE: z.string().min(1).default('.continuity/audit-signing-key.pem'),
  AUDIT_SIGN_INTERVAL_MS: z.coerce.number().int().min(200).default(5_000),
  AUDIT_TAMPER_CHECK_INTERVAL_MS: z.coerce.number().int().min(1_000).default(600_000),
  AUDIT_RPO_TARGET_MS: z.coerce.number().int().positive().default(300_000),
  AUDIT_RTO_TARGET_MS: z.coerce.number().int().positive().default(30_000),
  AUDIT_AVAILABILITY_TARGET: z.coerce.number().gt(0).lt(1).default(0.9999),
  /** Events written per ledger transaction at most. */
  AUDIT_BATCH_SIZE: z.coerce.number().int().min(1).max(5_000).default(500),
});

export type AuditConfig = z.infer<typeof auditEnvSchema>;
