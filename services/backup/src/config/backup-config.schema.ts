import { z } from 'zod';
import { redactSecrets } from '@continuity/runtime/standalone';
import { RESOURCE_PATTERN } from '@continuity/contracts';
import { parsePostgresEndpoint } from './restore-targets.policy.js';
import { parseSchedule } from './schedule.js';
import { DrillConfigSchema } from './drill-config.schema.js';

/**
 * The backup configuration file (YAML, path from `CONTINUITY_CONFIG`): what is protected
 * (resources), where copies go (locations) and how (policies). Unknown keys are errors: a typo
 * such as `retension:` must not silently mean "keep everything".
 */

const name = z.string().regex(RESOURCE_PATTERN, 'must be 1-128 letters, digits, "_" or "-", starting with a letter or digit');
const site = z.string().min(1, 'must name the site, e.g. eu-west-1a');
const nonEmptyPath = z.string().min(1, 'must be a path').refine((p) => p.startsWith('/'), 'must be an absolute path');

const postgresResource = z.strictObject({
  kind: z.literal('postgres'),
  site,
  /** libpq connection string or URL; the password may come from PGPASSWORD / ~/.pgpass instead. */
  connection: z.string().min(1, 'must be a PostgreSQL connection string, e.g. postgres://postgres@127.0.0.1:5432/orders'),
  /** The database to dump; defaults to the one in `connection`. */
  database: z.string().min(1).optional(),
  /**
   * Where restores of it may go: `postgres://[user@]host[:port]/<database pattern, * = anything>`
   * for dumps, absolute directories for base backups (a data directory must be one of them or
   * inside one); none = nowhere over HTTP.
   */
  restoreTargets: z
    .array(
      z.string().superRefine((value, ctx) => {
        if (value.startsWith('/')) return;
        const parsed = parsePostgresEndpoint(value, { rule: true });
        if ('error' in parsed) ctx.addIssue({ code: 'custom', message: `"${redactSecrets(value)}" ${parsed.error}` });
      }),
    )
    .optional(),
});

const directoryResource = z.strictObject({
  kind: z.literal('directory'),
  site,
  path: nonEmptyPath,
  include: z.array(z.string().min(1)).min(1, 'must list at least one glob (or leave include out to take everything)').default(['**']),
  exclude: z.array(z.string().min(1)).default([]),
  /** Directories a restore of it may go to (or inside); none = nowhere over HTTP. */
  restoreTargets: z.array(nonEmptyPath).optional(),
});

export const ResourceConfigSchema = z.discriminatedUnion('kind', [postgresResource, directoryResource], {
  error: (issue) => (issue.code === 'invalid_union' ? 'kind must be "postgres" or "directory"' : undefined),
});

const filesystemLocation = z.strictObject({
  kind: z.literal('filesystem'),
  site,
  medium: z.string().min(1, 'must name the medium, e.g. disk, nas, tape'),
  path: nonEmptyPath,
});

const objectStoreLocation = z.strictObject({
  kind: z.literal('object-store'),
  site,
  medium: z.string().min(1, 'must name the medium, e.g. object').default('object'),
  bucket: z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be letters, digits, "_" or "-" (a JetStream object store bucket)'),
  /** NATS servers holding the bucket; defaults to the service's NATS_URL. */
  natsUrl: z.string().min(1).optional(),
  /** JetStream replicas of the bucket; defaults to the service's NATS_REPLICAS. */
  replicas: z.int().min(1).max(5).optional(),
});

export const LocationConfigSchema = z.discriminatedUnion('kind', [filesystemLocation, objectStoreLocation], {
  error: (issue) => (issue.code === 'invalid_union' ? 'kind must be "filesystem" or "object-store"' : undefined),
});

const count = z.int('must be a whole number').min(0, 'must be 0 or more');

export const RetentionSchema = z
  .strictObject({
    keepLast: count.default(0),
    daily: count.default(0),
    weekly: count.default(0),
    monthly: count.default(0),
  })
  .refine((r) => r.keepLast + r.daily + r.weekly + r.monthly > 0, 'must keep something: set keepLast, daily, weekly or monthly above 0 (or leave retention out to keep every backup)');

export const PolicyConfigSchema = z.strictObject({
  resource: name,
  /** Cron expression (`0 2 * * *`) or interval (`every 15m`); absent = on demand only. */
  schedule: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      if (value === undefined) return;
      const parsed = parseSchedule(value);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.error });
    }),
  /**
   * How a PostgreSQL resource is backed up: `pg_dump` (default: one database, logical) or
   * `basebackup` (the whole cluster, physical, through a replication connection).
   */
  method: z.enum(['pg_dump', 'basebackup'], { error: 'must be "pg_dump" or "basebackup"' }).optional(),
  /**
   * Where a base backup is compressed (zstd): `server` (default: PostgreSQL 15+ compresses as it
   * reads the files, and only compressed bytes travel; older servers fall back to `service`) or
   * `service` (this service compresses the plain tar). Only with `method: basebackup`.
   */
  compression: z.enum(['server', 'service'], { error: 'must be "server" or "service"' }).optional(),
  copies: z.array(name).min(1, 'must list at least one location'),
  retention: RetentionSchema.optional(),
  encryption: z.strictObject({ keyFile: nonEmptyPath }).optional(),
  /**
   * Continuous WAL archive (PostgreSQL): `pg_receivewal` streams WAL from a replication slot and
   * every finished segment is shipped to every copy location; the segment still being written is
   * shipped at least every `walShipIntervalMs`, which bounds the data an asynchronous archive loses.
   */
  wal: z
    .strictObject({
      enabled: z.boolean(),
      walShipIntervalMs: z.int('must be a whole number of milliseconds').min(1_000, 'must be at least 1000 (1 s)').max(3_600_000, 'must be at most 3600000 (1 h)').default(60_000),
      /**
       * How long a shipped version of the partial segment stays in the copies once a newer one (or
       * the finished segment) is durable in every copy: a restore that planned on it fetches it at
       * the end of its recovery, possibly hours later. Then WAL retention's own rules apply.
       */
      partialVersionGraceMs: z
        .int('must be a whole number of milliseconds')
        .min(60_000, 'must be at least 60000 (1 min): a running restore fetches the version it planned on')
        .max(604_800_000, 'must be at most 604800000 (7 days)')
        .default(3_600_000),
      /**
       * How often a named restore point (`pg_create_restore_point`) is created, so a recovery (the
       * verifier's replay test) has a known recent target; one is also created after each base backup.
       */
      restorePointIntervalMs: z
        .int('must be a whole number of milliseconds')
        .min(1_000, 'must be at least 1000 (1 s)')
        .max(86_400_000, 'must be at most 86400000 (1 day)')
        .default(300_000),
      /**
       * Synchronous archiving: `pg_receivewal --synchronous` under the application_name
       * `continuity_<resource>`; once that name is in the server's synchronous_standby_names, a commit is
       * acknowledged only when its WAL is flushed on the archiver's disk (RPO 0 for the spool).
       */
      synchronous: z.boolean().default(false),
      /**
       * With `synchronous`: the service itself sets synchronous_standby_names to the archiver's name
       * (ALTER SYSTEM + reload; needs a superuser connection). Off: the DBA adds the name.
       */
      setSynchronousStandbyNames: z.boolean().default(false),
      /**
       * Follow the failover service's route record (`routes.<resource>`): after a failover the archive
       * streams from the promoted primary (host and port from the route, credentials from `connection`).
       */
      followPrimary: z.boolean().default(false),
    })
    .optional(),
  /** `optOut` only with a reason: every backup of this policy then says it does not meet 3-2-1. */
  threeTwoOne: z.union([z.literal('required'), z.strictObject({ optOut: z.string().min(1, 'must say why the policy opts out of 3-2-1') })]).default('required'),
});

export const BackupConfigFileSchema = z.strictObject({
  resources: z.record(name, ResourceConfigSchema).default({}),
  locations: z.record(name, LocationConfigSchema).default({}),
  policies: z.record(name, PolicyConfigSchema).default({}),
  drills: z.record(name, DrillConfigSchema).default({}),
  // One file serves every service: the sections other services own are theirs to validate.
  failover: z.unknown().optional(),
  verifier: z.unknown().optional(),
});

export type ResourceConfig = z.infer<typeof ResourceConfigSchema>;
export type PostgresResourceConfig = z.infer<typeof postgresResource>;
export type DirectoryResourceConfig = z.infer<typeof directoryResource>;
export type LocationConfig = z.infer<typeof LocationConfigSchema>;
export type FilesystemLocationConfig = z.infer<typeof filesystemLocation>;
export type ObjectStoreLocationConfig = z.infer<typeof objectStoreLocation>;
export type RetentionConfig = z.infer<typeof RetentionSchema>;
export type PolicyConfig = z.infer<typeof PolicyConfigSchema>;
export type BackupConfigFile = z.infer<typeof BackupConfigFileSchema>;
