import { z } from 'zod';
import { NameSchema, ResourceSchema, UtcTimestampSchema } from '../envelope.js';

const LsnSchema = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i, 'must be a WAL position such as 0/2000028');

/**
 * The backup service created a named restore point (`pg_create_restore_point`) on a protected
 * cluster: a target a point-in-time restore (and the verifier's replay test) can stop at by name.
 */
export const RestorePointCreatedV1Schema = z.object({
  resource: ResourceSchema.describe('the protected resource (as in the envelope)'),
  policy: NameSchema.describe('the policy whose WAL archive the restore point belongs to'),
  name: NameSchema.describe('the restore point name (recovery_target_name)'),
  lsn: LsnSchema.describe('WAL position of the restore point record'),
  timeline: z.int().positive(),
  createdAt: UtcTimestampSchema,
});

export type RestorePointCreatedV1 = z.infer<typeof RestorePointCreatedV1Schema>;
