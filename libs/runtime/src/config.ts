import { redactSecrets } from './secrets.js';
import { DEFAULT_RESTORE_MAINTENANCE_WORK_MEM, restoreMaintenanceWorkMemProblem } from './postgres.js';
import { z } from 'zod';
import { DEFAULT_MAX_FUTURE_SKEW_MS, DEFAULT_TOPOLOGY, ExternalPublisher, isolatedTopology, parsePublishers, provenancePolicy, Topology } from '@continuity/contracts';
import { DEFAULT_REPLICAS, MAX_REPLICAS, natsAuthOptions, NatsAuthOptions, NatsAuthSettings, NatsCredentialsError } from '@continuity/messaging/nats';
import { clearTokens, hashedTokensFile, legacyAuditTokens, legacyOperatorTokens } from './http/access-tokens.js';

/** A configuration value that is missing or wrong; the message names the variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG.INVALID';
  constructor(readonly problems: { variable: string; message: string }[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n')}`);
  }
}

const urlWithScheme = (schemes: string[], example: string) =>
  z.string().refine(
    (value) => {
      try {
        return schemes.includes(new URL(value).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    { message: `must be a ${schemes.map((s) => `${s}://`).join(' or ')} URL, e.g. ${example}` },
  );

const natsUrls = z
  .string()
  .min(1, 'must not be empty')
  .refine(
    (value) =>
      value.split(',').every((url) => {
        try {
          const parsed = new URL(url.trim());
          return ['nats:', 'tls:'].includes(parsed.protocol) && !!parsed.hostname;
        } catch {
          return false;
        }
      }),
    { message: 'must be one or more comma-separated nats:// URLs, e.g. nats://127.0.0.1:4222' },
  );

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/continuity';

/**
 * How this process authenticates to NATS (see `natsAuthOptions`; at most one of the first three).
 * Paths, not secrets, except `NATS_PASSWORD`, which is never repeated in errors or logs.
 */
export const natsCredentialsEnv = {
  NATS_NKEY_SEED_FILE: z.string().min(1).optional(),
  NATS_CREDS: z.string().min(1).optional(),
  NATS_USER: z.string().min(1).optional(),
  NATS_PASSWORD: z.string().min(1).optional(),
  NATS_CA: z.string().min(1).optional(),
};

/** Who may publish what beyond the services themselves, and how far ahead an event may be dated. */
export const provenanceEnv = {
  /** External publishers: `billing=billing-db,billing-archive;crm=crm-db` (as in the identities file). */
  CONTINUITY_PUBLISHERS: z.string().transform((value, ctx): ExternalPublisher[] => {
    try {
      return parsePublishers(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  }).default([]),
  EVENT_MAX_FUTURE_SKEW_MS: z.coerce.number({ message: 'must be a number of milliseconds' }).int('must be a whole number of milliseconds').min(0, 'must be 0 or more').default(DEFAULT_MAX_FUTURE_SKEW_MS),
};

/** The provenance policy of this configuration (`checkProvenance`). */
export const provenancePolicyOf = (config: { CONTINUITY_PUBLISHERS: ExternalPublisher[]; EVENT_MAX_FUTURE_SKEW_MS: number }) =>
  provenancePolicy(config.CONTINUITY_PUBLISHERS, config.EVENT_MAX_FUTURE_SKEW_MS);

/** `natsAuthOptions` with a bad setting reported as a `ConfigError` naming the variable. */
export const natsAuthOf = (settings: NatsAuthSettings): NatsAuthOptions => {
  try {
    return natsAuthOptions(settings);
  } catch (error) {
    if (error instanceof NatsCredentialsError) throw new ConfigError([{ variable: error.variable, message: error.message.slice(error.variable.length + 2) }]);
    throw error;
  }
};

/**
 * `maintenance_work_mem` of the sessions a service restores a dump with (`<n>kB|MB|GB`, 1MB to
 * 16GB; default `DEFAULT_RESTORE_MAINTENANCE_WORK_MEM`): refused at start when it is not one.
 */
export const restoreMaintenanceWorkMemEnv = () =>
  z
    .string()
    .trim()
    .default(DEFAULT_RESTORE_MAINTENANCE_WORK_MEM)
    .superRefine((value, ctx) => {
      const problem = restoreMaintenanceWorkMemProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

/** Variables every service reads. Services extend it with their own. */
export const baseEnvSchema = (defaultPort: number) =>
  z.object({
    NATS_URL: natsUrls.default(DEFAULT_NATS_URL),
    DATABASE_URL: urlWithScheme(['postgres', 'postgresql'], DEFAULT_DATABASE_URL).default(DEFAULT_DATABASE_URL),
    PORT: z.coerce
      .number({ message: 'must be a port number' })
      .int('must be a whole number')
      .min(1, 'must be between 1 and 65535')
      .max(65535, 'must be between 1 and 65535')
      .default(defaultPort),
    HOST: z.string().min(1).default('127.0.0.1'),
    /** Subject namespace; `continuity` in production, a run of its own in tests. */
    CONTINUITY_NAMESPACE: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,31}$/, 'must be lowercase letters, digits and _, starting with a letter')
      .default('continuity'),
    LOG_LEVEL: z.enum(['error', 'warn', 'log', 'debug', 'verbose']).default('log'),
    /** `text` (Nest's console lines) or `json` (one JSON object a line, with the active trace_id/span_id). */
    LOG_FORMAT: z.enum(['text', 'json']).default('text'),
    /** How long JetStream waits for an ack before redelivering (also after a crash). */
    JETSTREAM_ACK_WAIT_MS: z.coerce.number().int().min(1_000, 'must be ≥ 1000').default(30_000),
    /** `name:role:token,…` (roles viewer, operator, auditor, admin): who may call the HTTP API; with none, only health and metrics answer. */
    CONTINUITY_TOKENS: clearTokens.default([]),
    /** A file of `name role sha256-hex` lines: the same, stored hashed (recommended). */
    CONTINUITY_TOKENS_FILE: hashedTokensFile.default([]),
    /** Deprecated: `name:token,…` operators; use CONTINUITY_TOKENS. */
    CONTINUITY_OPERATOR_TOKENS: legacyOperatorTokens.default([]),
    /** Deprecated: `token:role,…` (auditor, operator); use CONTINUITY_TOKENS. */
    AUDIT_TOKENS: legacyAuditTokens.default([]),
    /** Unknown tokens from one address within the window before it is answered 429. */
    CONTINUITY_AUTH_MAX_FAILURES: z.coerce.number().int().min(1, 'must be ≥ 1').default(10),
    CONTINUITY_AUTH_WINDOW_MS: z.coerce.number().int().min(1_000, 'must be ≥ 1000').default(60_000),
    /**
     * Servers holding each stream, KV bucket and object store this service creates: 1 on one
     * server, 3 (or 5) in a cluster, so losing a minority of the servers loses nothing.
     */
    NATS_REPLICAS: z.coerce
      .number({ message: `must be a whole number from 1 to ${MAX_REPLICAS} (3 in a 3-node cluster)` })
      .int(`must be a whole number from 1 to ${MAX_REPLICAS} (3 in a 3-node cluster)`)
      .min(1, `must be a whole number from 1 to ${MAX_REPLICAS} (3 in a 3-node cluster)`)
      .max(MAX_REPLICAS, `must be a whole number from 1 to ${MAX_REPLICAS}: JetStream keeps at most ${MAX_REPLICAS} replicas`)
      .default(DEFAULT_REPLICAS),
    /**
     * How long a starting service waits for NATS and PostgreSQL to answer before it gives up
     * (exit 1): a service restarted during an outage, or started before its dependencies, then
     * comes up by itself. 0: try once.
     */
    STARTUP_WAIT_MS: z.coerce.number({ message: 'must be a number of milliseconds' }).int('must be a whole number of milliseconds').min(0, 'must be 0 or more').default(120_000),
    ...natsCredentialsEnv,
    ...provenanceEnv,
  });

export type BaseConfig = z.infer<ReturnType<typeof baseEnvSchema>>;

const SECRET_VARIABLE = /TOKEN|SECRET|PASSWORD|KEY/;

/** Reads and validates the environment; throws `ConfigError` naming every bad variable. */
export const loadConfig = <S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> => {
  // An empty variable means "not set": shells and compose files often export FOO= .
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = schema.safeParse(present);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const variable = issue.path.map(String).join('.') || '(environment)';
      // Secrets (tokens, keys) are never repeated back: the message ends up in logs.
      // A secret variable is never repeated; any other value is repeated without the passwords in it.
      const raw = SECRET_VARIABLE.test(variable) ? undefined : env[variable];
      const got = raw === undefined ? undefined : redactSecrets(raw);
      return { variable, message: `${issue.message}${got !== undefined ? ` (got ${JSON.stringify(got)})` : ''}` };
    }),
  );
};

export const topologyFor = (namespace: string): Topology =>
  namespace === DEFAULT_TOPOLOGY.namespace ? DEFAULT_TOPOLOGY : isolatedTopology(namespace);

/**
 * `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for messages and logs; every
 * URL of a comma-separated list (`NATS_URL` of a cluster), `?password=` and conninfo passwords too.
 */
export const redactUrl = redactSecrets;
