import { z } from 'zod';
import { baseEnvSchema } from '@continuity/runtime';

/** The failover service's environment: the shared variables plus where its configuration is. */
export const failoverEnvSchema = baseEnvSchema(3003).extend({
  /** YAML file whose `failover:` section lists the protected resources; unset = nothing to watch (the service says so). */
  CONTINUITY_CONFIG: z.string().min(1).optional(),
  /** This instance's name in leases and events; defaults to `<hostname>-<pid>`. Must differ between instances. */
  FAILOVER_INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1-64 letters, digits, ".", "_" or "-"')
    .optional(),
});

export type FailoverEnv = z.infer<typeof failoverEnvSchema>;
