import { z } from 'zod';
import { EVENT_LIMITS, TextSchema, UriSchema, UtcTimestampSchema } from '../envelope.js';

/**
 * A restore that was allowed to start (its target matched the configuration, or the CLI was told
 * `--allow-any-target`) and ended, restored or failed: restores write over data, so every one is
 * on the record with who asked, where it went and whether it replaced something. The envelope's
 * `resource` is the backed-up resource. Requests refused before they start (target not allowed,
 * unknown backup) are not restores and publish nothing.
 */
export const RestorePerformedV1Schema = z.object({
  restoreId: z.uuid(),
  backupId: z.uuid(),
  targetKind: z.enum(['postgres', 'directory']),
  target: UriSchema.describe('the directory, or the database URL with any password redacted'),
  overwritten: z.boolean().describe('true when the target held data and the restore replaced it (clean)'),
  outcome: z.enum(['restored', 'failed']),
  error: TextSchema.nullable().describe('why it failed (secrets redacted); null when restored'),
  copy: z.string().max(EVENT_LIMITS.name).nullable().describe('the location whose copy was restored; null when none was'),
  requestedBy: z.object({
    via: z.enum(['http', 'cli']),
    operator: z.string().max(EVENT_LIMITS.name).nullable().describe('who asked, when known (the CLI user; over HTTP, the authenticated caller)'),
  }),
  targetAllowedBy: z.enum(['configuration', 'allow-any-target']).describe("the resource's restoreTargets, or the CLI's explicit --allow-any-target"),
  startedAt: UtcTimestampSchema,
  finishedAt: UtcTimestampSchema,
});

export type RestorePerformedV1 = z.infer<typeof RestorePerformedV1Schema>;
