import { z } from 'zod';
import { baseEnvSchema, defaultRestoreJobs, restoreMaintenanceWorkMemEnv } from '@continuity/runtime';
import { parseDuration } from './config/duration.js';

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: 'must be a duration such as 500ms, 90s, 15m, 1h or 30d' });
        return z.NEVER;
      }
      return ms;
    });

const postgresUrl = z.string().refine((value) => {
  try {
    return ['postgres:', 'postgresql:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, 'must be a postgres:// URL, e.g. postgres://verifier@127.0.0.1:5432/postgres');

/** The verifier's environment: the shared variables plus its own (see services/verifier/README.md). */
export const verifierEnvSchema = baseEnvSchema(3002).extend({
  /** YAML file: key files for encrypted backups, per-resource restore-test options and SQL assertions. */
  VERIFIER_CONFIG: z.string().min(1).optional(),
  /** The backup service's policy file; when set, its policies' key files and object stores' NATS URLs are used too. */
  CONTINUITY_CONFIG: z.string().min(1).optional(),
  /** Verifications at once (copy reads and restore tests), whatever started them. */
  VERIFIER_CONCURRENCY: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(64, 'must be at most 64').default(2),
  /** `off`: copies are re-hashed, nothing is test-restored (restoreTest is null in the verdicts). */
  VERIFIER_RESTORE_TEST: z.enum(['on', 'off']).default('on'),
  /** Server on which scratch databases live: creates the restore role when missing, drops scratch databases; defaults to DATABASE_URL. */
  VERIFIER_SCRATCH_DATABASE_URL: postgresUrl.optional(),
  /** Scratch databases and folders are named `<prefix><id>`; recognisable, and swept after a crash. */
  VERIFIER_SCRATCH_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,39}$/, 'must be 1-40 lowercase letters, digits and _, starting with a letter')
    .default('continuity_verify_'),
  /** Where directory backups are extracted for their restore test; defaults to the OS temp dir. */
  VERIFIER_SCRATCH_DIR: z.string().refine((p) => p.startsWith('/'), 'must be an absolute path').optional(),
  /** `off`: no scheduled scrubbing in this process. */
  VERIFIER_SCRUB: z.enum(['on', 'off']).default('on'),
  /** Every retained backup is re-verified at least once per this period. */
  VERIFIER_SCRUB_PERIOD: duration('30d'),
  /** How often a scrub round runs (each verifies its share of the period's work). */
  VERIFIER_SCRUB_EVERY: duration('1h'),
  /** `pg_restore --jobs` of a restore test whose copy is a local, unencrypted file; default min(4, cores). */
  VERIFIER_RESTORE_JOBS: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(32, 'must be at most 32').default(defaultRestoreJobs()),
  /** `maintenance_work_mem` of a restore test's pg_restore sessions (index builds sort in memory up to it); `<n>kB|MB|GB`, 1MB to 16GB, default 512MB. */
  VERIFIER_RESTORE_MAINTENANCE_WORK_MEM: restoreMaintenanceWorkMemEnv(),
  /** Longest a configured SQL assertion may run in a scratch database. */
  VERIFIER_ASSERTION_TIMEOUT: duration('60s'),
  /**
   * The role scratch restores connect as (LOGIN CREATEDB, nothing more): created through the scratch
   * server's connection when missing. SQL inside an archive runs with this role's rights.
   */
  VERIFIER_RESTORE_ROLE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a PostgreSQL role name: lowercase letters, digits and _, starting with a letter or _')
    .default('continuity_verifier_restore'),
  /** Folders under which file:// copies may be read (comma-separated absolute paths); default: the backup policy file's filesystem locations. */
  VERIFIER_FILE_ROOTS: z
    .string()
    .transform((value) => value.split(',').map((p) => p.trim()).filter(Boolean))
    .refine((paths) => paths.every((p) => p.startsWith('/')), 'must be absolute paths, separated by commas')
    .optional(),
  /** Wall-clock limit of one verification (every copy read and the restore test), in milliseconds. */
  VERIFIER_DEADLINE_MS: z.coerce.number({ message: 'must be a number of milliseconds' }).int('must be a whole number').min(1_000, 'must be at least 1000').default(6 * 3_600_000),
});

export type VerifierEnv = z.infer<typeof verifierEnvSchema>;
