import { z } from 'zod';
import { redactSecrets } from '@continuity/runtime/standalone';
import { parsePostgresEndpoint } from './restore-targets.policy.js';
import { parseSchedule } from './schedule.js';

/**
 * `drills:` in the backup configuration, one entry per resource: what a drill of it rehearses,
 * where its scratch restores go, the objectives it is judged against and, optionally, a schedule.
 * The scratch target is never the resource itself: each drill restores into a new database
 * `<scratch database>_<random>` (PostgreSQL dumps) or a new directory `<scratch>/drill-<random>`
 * (directories), which must also be allowed by the resource's `restoreTargets`, and drops it after.
 */
export const DrillConfigSchema = z.strictObject({
  /** The kind a scheduled drill (and a request naming none) runs. */
  kind: z.enum(['restore', 'failover', 'full'], { error: 'must be "restore", "failover" or "full"' }).default('restore'),
  /** Cron expression or interval, as policies' schedules; absent = on demand only. */
  schedule: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      if (value === undefined) return;
      const parsed = parseSchedule(value);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.error });
    }),
  /**
   * PostgreSQL: `postgres://[user@]host[:port]/<database prefix>`: each drill creates and drops
   * `<prefix>_<8 hex>` there. Directory: an absolute directory each drill restores inside.
   */
  scratch: z.string().superRefine((value, ctx) => {
    if (value.startsWith('/')) return;
    const parsed = parsePostgresEndpoint(value);
    if ('error' in parsed) ctx.addIssue({ code: 'custom', message: `"${redactSecrets(value)}" ${parsed.error}` });
    else if (!/^[a-z_][a-z0-9_]{0,40}$/.test(parsed.database)) ctx.addIssue({ code: 'custom', message: 'the database prefix must be 1-41 lowercase letters, digits or "_"' });
    else if (parsed.password) ctx.addIssue({ code: 'custom', message: 'must not carry a password (use PGPASSWORD or ~/.pgpass)' });
  }),
  targets: z
    .strictObject({
      rtoMs: z.int('must be a whole number of milliseconds').positive().default(30_000),
      rpoMs: z.int('must be a whole number of milliseconds').positive().default(300_000),
    })
    .default({ rtoMs: 30_000, rpoMs: 300_000 }),
  /** PostgreSQL: read-only queries run in the scratch database; each must return one row, one column, true. */
  assertions: z
    .array(z.strictObject({ name: z.string().min(1).max(128), sql: z.string().min(1).max(4_096) }))
    .max(20)
    .default([]),
  /** A step not done within this fails the drill (and its scratch target is still dropped). */
  stepTimeoutMs: z.int('must be a whole number of milliseconds').min(1_000).max(6 * 3_600_000).default(600_000),
  /** Failover and full drills: the standby to switch to (default: the most up-to-date eligible one) and whether to switch back. */
  failover: z.strictObject({ standby: z.string().min(1).max(128).optional(), switchBack: z.boolean().default(true) }).optional(),
});

export type DrillConfig = z.infer<typeof DrillConfigSchema>;
