import { hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { baseEnvSchema, DEFAULT_DATABASE_URL } from '@continuity/runtime';

/** A key file's place must not depend on the directory the service happens to start in. */
const absolutePath = z
  .string()
  .min(1)
  .refine(isAbsolute, { message: 'must be an absolute path (a relative one depends on the directory the service starts in)' });

/**
 * Ledger messages the transport hands the writer at once (the ledger consumer's concurrency): twice
 * the largest batch, so the next batch fills while one commits.
 */
export const LEDGER_IN_FLIGHT = 4_000;

/** SLO targets the projection, the report and the plans judge against. */
const sloTargetsEnv = {
  AUDIT_RPO_TARGET_MS: z.coerce.number().int().positive().default(300_000),
  AUDIT_RTO_TARGET_MS: z.coerce.number().int().positive().default(30_000),
  AUDIT_AVAILABILITY_TARGET: z.coerce.number().gt(0).lt(1).default(0.9999),
};

const planEnv = {
  /** Notification channels, routes and contacts (YAML; see the README's Notifications). Unset: nobody is notified. */
  AUDIT_NOTIFICATIONS_FILE: absolutePath.optional(),
  /** Where the failover service answers, as the continuity plan's commands name it. */
  AUDIT_FAILOVER_URL: z.url({ protocol: /^https?$/ }).max(2048).default('http://127.0.0.1:3003'),
};

/** What `continuity-audit plan` reads from the environment (it needs no signing key). */
export const planCliEnvSchema = z.object({ DATABASE_URL: z.string().min(1).default(DEFAULT_DATABASE_URL), ...sloTargetsEnv, ...planEnv });

export const auditEnvSchema = baseEnvSchema(3004).extend({
  /** Ed25519 private key (PKCS#8 PEM) in the environment; wins over the file. */
  AUDIT_SIGNING_KEY: z.string().optional(),
  /**
   * Where the key lives, an absolute path (required unless AUDIT_SIGNING_KEY is set); created there
   * exclusively with mode 0600 on first start if absent; refused when group or others may read it.
   */
  AUDIT_SIGNING_KEY_FILE: absolutePath.optional(),
  /**
   * The key the ledger signed with before this one, for a planned rotation: when set, the key
   * change is attested (the old key signs the new public key). Usually absent: then unattested.
   */
  AUDIT_PREVIOUS_SIGNING_KEY_FILE: absolutePath.optional(),
  AUDIT_SIGN_INTERVAL_MS: z.coerce.number().int().min(200).default(5_000),
  AUDIT_TAMPER_CHECK_INTERVAL_MS: z.coerce.number().int().min(1_000).default(600_000),
  ...sloTargetsEnv,
  /** How often the writer judges every resource's SLOs and risks against the clock; 0 turns the emitter off. */
  AUDIT_EVALUATE_INTERVAL_MS: z.coerce.number().int().min(0).max(60_000).refine((v) => v === 0 || v >= 100, { message: 'must be 0 (off) or ≥ 100' }).default(5_000),
  /** Risk register: every retained backup older than this must have been verified within it. */
  AUDIT_SCRUB_PERIOD_MS: z.coerce.number().int().positive().default(7 * 86_400_000),
  /** Risk register: a passed recovery drill at most this old. */
  AUDIT_DRILL_MAX_AGE_MS: z.coerce.number().int().positive().default(30 * 86_400_000),
  /** Risk register: replication lag a standby may have at most. */
  AUDIT_STANDBY_LAG_LIMIT_BYTES: z.coerce.number().int().nonnegative().default(16 * 1024 * 1024),
  /** Headless Chromium that prints the recovery-testing report to PDF (`--print-to-pdf`). */
  CHROMIUM_PATH: z.string().min(1).default('/usr/bin/chromium'),
  /** How often a standby tries to take the writer lease (and the writer checks it still holds it). */
  AUDIT_WRITER_LEASE_POLL_MS: z.coerce.number().int().min(100).default(1_000),
  /** Names this instance in readiness, `/audit/integrity` and PostgreSQL's `application_name`. */
  AUDIT_INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,40}$/, 'must be 1–40 letters, digits, . _ : -')
    .default(() => `${hostname().slice(0, 30)}-${process.pid}`),
  /** Entries one `GET /audit/export` returns at most: larger ranges are a 400, an open range is paged. */
  AUDIT_EXPORT_MAX_ENTRIES: z.coerce.number().int().min(1).max(1_000_000).default(100_000),
  ...planEnv,
  /**
   * Events written per ledger transaction at most. A batch is whatever arrived while the previous
   * one committed, so it is small when the ledger keeps up and grows to this when it is behind.
   * Above LEDGER_IN_FLIGHT / 2 the next batch can no longer fill while one commits.
   */
  AUDIT_BATCH_SIZE: z.coerce.number().int().min(1).max(5_000).default(LEDGER_IN_FLIGHT / 2),
  /** Where the status page links for traces (e.g. Jaeger's UI); unset: no link. */
  AUDIT_TRACES_URL: z
    .url({ protocol: /^https?$/, message: 'must be an http(s) URL' })
    .optional(),
}).superRefine((config, ctx) => {
  if (!config.AUDIT_SIGNING_KEY && !config.AUDIT_SIGNING_KEY_FILE) {
    ctx.addIssue({ code: 'custom', path: ['AUDIT_SIGNING_KEY_FILE'], message: 'is required (an absolute path; the key is created there on first start) unless AUDIT_SIGNING_KEY is set' });
  }
});

export type AuditConfig = z.infer<typeof auditEnvSchema>;
