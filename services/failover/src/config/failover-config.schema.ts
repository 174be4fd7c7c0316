import { z } from 'zod';
import { RESOURCE_PATTERN } from '@continuity/contracts';
import { DEFAULT_FAILURES_BEFORE_FAILOVER, DEFAULT_PROBE_INTERVAL_MS } from './failover-config.policy.js';

/**
 * The `failover:` section of the configuration file (YAML, path from `CONTINUITY_CONFIG`; other
 * services read their own sections of the same file). Unknown keys inside the section are errors:
 * a typo such as `maxLagByte:` must not silently mean "no limit".
 */

const positiveMs = (what: string) => z.int(`${what} must be a whole number of milliseconds`).min(1, `${what} must be at least 1 ms`);

const MEMBER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * A member's fence command (STONITH: power it off, stop its service, detach its volume), run once
 * per failover before a standby is promoted in its place, when it is the primary that failed.
 * An argv array, run without a shell, so nothing in it is ever interpreted.
 */
export const FenceCommandSchema = z.strictObject({
  command: z
    .array(z.string().min(1, 'an argument must not be empty'), { error: 'must be an argv array, e.g. ["/usr/local/bin/stonith", "--node", "db-a"]' })
    .min(1, 'must name the program to run')
    .refine((argv) => argv[0]!.startsWith('/'), 'the program (first element) must be an absolute path: it is run without a shell or PATH lookup'),
  /** Killed (with everything it started) when it has not exited within this. */
  timeoutMs: positiveMs('timeoutMs').default(30_000),
  /** true: a fence that does not succeed stops the failover (FailoverAbandoned). false: promote anyway, saying the old primary was not fenced. */
  required: z.boolean({ error: 'must be true or false' }).default(false),
});

export const MemberConfigSchema = z.strictObject({
  name: z.string().regex(MEMBER_NAME, 'must be 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit'),
  /** libpq URL the failover service connects with (needs pg_promote and ALTER SYSTEM rights). */
  connection: z
    .string()
    .min(1, 'must be a PostgreSQL URL, e.g. postgres://postgres@10.0.0.5:5432/postgres')
    .refine((value) => {
      try {
        return ['postgres:', 'postgresql:'].includes(new URL(value).protocol);
      } catch {
        return false;
      }
    }, 'must be a postgres:// URL, e.g. postgres://postgres@10.0.0.5:5432/postgres'),
  /** The role at start-up; after a failover the route record says who is primary. */
  role: z.enum(['primary', 'standby'], { error: 'must be "primary" or "standby"' }),
  /**
   * libpq conninfo other standbys use to stream from this member once it is primary; defaults to
   * host, port and user (and password) of `connection`, with application_name = the standby's name.
   */
  replicationConnection: z.string().min(1).optional(),
  /** What to do to this member when it is the primary and fails: see FenceCommandSchema. */
  fence: FenceCommandSchema.optional(),
});

export const ResourceFailoverSchema = z.strictObject({
  members: z.array(MemberConfigSchema).min(2, 'must list the primary and at least one standby'),
  /** Most WAL (bytes) a standby may lack and still be promoted: the bound on data lost. */
  maxLagBytes: z.int('must be a whole number of bytes').min(0, 'must be 0 or more'),
  mode: z.enum(['automatic', 'manual'], { error: 'must be "automatic" or "manual"' }).default('automatic'),
  probeIntervalMs: positiveMs('probeIntervalMs').default(DEFAULT_PROBE_INTERVAL_MS),
  failuresBeforeFailover: z.int('must be a whole number').min(1, 'must be at least 1').default(DEFAULT_FAILURES_BEFORE_FAILOVER),
  /** A probe not answered within this is a failed probe; defaults to 80 % of probeIntervalMs. */
  probeTimeoutMs: positiveMs('probeTimeoutMs').optional(),
  /** How long pg_promote may take before the failover is abandoned. */
  promoteTimeoutMs: positiveMs('promoteTimeoutMs').default(10_000),
  /**
   * Zero-loss failover: commits wait for one named standby (synchronous_standby_names, kept by the
   * leader) and only that standby is promoted; relaxed (announced) when no standby can acknowledge.
   */
  synchronous: z.boolean({ error: 'must be true or false' }).default(false),
  /** How long commits may block with no standby to acknowledge them before synchronous replication is relaxed. */
  relaxSynchronousAfterMs: z.int('relaxSynchronousAfterMs must be a whole number of milliseconds').min(0, 'must be 0 or more').optional(),
  /** How long a switchover waits for the target to replay the primary's last position. */
  switchoverTimeoutMs: positiveMs('switchoverTimeoutMs').default(30_000),
});

export const FailoverSectionSchema = z.strictObject({
  /**
   * Leader lease: the lease bucket's TTL. A dead leader is replaced within this; it also delays a
   * failover that happens while the leader is being replaced. Every instance must agree (the
   * bucket keeps the TTL it was created with).
   */
  leaseTtlMs: z.int('must be a whole number of milliseconds').min(500, 'must be at least 500 ms').default(3_000),
  resources: z
    .record(z.string().regex(RESOURCE_PATTERN, 'resource names must be 1-128 letters, digits, "_" or "-"'), ResourceFailoverSchema)
    .default({}),
});

export type FenceCommandInput = z.infer<typeof FenceCommandSchema>;
export type MemberConfigInput = z.infer<typeof MemberConfigSchema>;
export type ResourceFailoverInput = z.infer<typeof ResourceFailoverSchema>;
export type FailoverSectionInput = z.infer<typeof FailoverSectionSchema>;
