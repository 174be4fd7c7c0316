import { z } from 'zod';
import { RESOURCE_PATTERN } from '@continuity/contracts';

/** What the verifier's HTTP API accepts; `parseRequest` turns a mismatch into a 400 naming every bad field. */
export const uuidParam = z.uuid({ message: 'must be a UUID' });
export const resourceParam = z.string().regex(RESOURCE_PATTERN, 'must be a resource name (letters, digits, "_" or "-")');

const LIMIT = 'must be a whole number from 1 to 1000';

export const ListVerificationsQuery = z.strictObject({
  backupId: uuidParam.optional(),
  resource: resourceParam.optional(),
  verdict: z.enum(['passed', 'failed', 'unverifiable'], { message: 'must be passed, failed or unverifiable' }).optional(),
  trigger: z.enum(['new', 'scrub', 'manual'], { message: 'must be new, scrub or manual' }).optional(),
  status: z.enum(['running', 'done', 'abandoned'], { message: 'must be running, done or abandoned' }).optional(),
  limit: z.coerce.number({ message: LIMIT }).int(LIMIT).min(1, LIMIT).max(1000, LIMIT).default(100),
});

export const VerifyBody = z.strictObject({ backupId: z.uuid({ error: (issue) => (issue.input === undefined ? 'is required: the backup to verify' : 'must be a UUID') }) });

/** Code of every 400 the verifier answers. */
export const INVALID_REQUEST = 'VERIFY.INVALID_REQUEST';
