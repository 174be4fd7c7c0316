import { RestoreError } from './restore.errors.js';

/**
 * Where a point-in-time restore should stop (pure): a moment, a WAL position, a named restore
 * point (`pg_create_restore_point`), or the end of the archive.
 */
export type RecoveryTarget = { kind: 'time'; at: Date } | { kind: 'lsn'; lsn: string } | { kind: 'name'; name: string } | { kind: 'latest' };

export interface RecoveryTargetInput {
  at?: string;
  lsn?: string;
  name?: string;
  latest?: boolean;
}

/** ISO 8601 with a zone (Z or ±hh:mm): a moment without one would be read in the restored server's zone. */
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i;
/**
 * Restore point names as we accept them: PostgreSQL takes up to 63 bytes of anything; we take
 * letters, digits and `. _ : -` (what our own points use), so a name can never break out of the
 * quoted setting it is written into.
 */
const RESTORE_POINT_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$/;

export const isPointInTime = (input: RecoveryTargetInput) => input.at !== undefined || input.lsn !== undefined || input.name !== undefined || input.latest === true;

const invalid = (message: string) => new RestoreError('RESTORE.INVALID_TARGET', message, { status: 400 });

/**
 * Validates exactly one target. `now` is passed in: a moment in the future cannot be restored
 * (its WAL does not exist yet), and is refused rather than waited for.
 */
export const parseRecoveryTarget = (input: RecoveryTargetInput, now: Date): RecoveryTarget => {
  const given = [input.at !== undefined, input.lsn !== undefined, input.name !== undefined, input.latest === true].filter(Boolean).length;
  if (given !== 1) throw invalid('give exactly one recovery target: --at <ISO time>, --lsn <LSN>, --name <restore point> or --latest');
  if (input.at !== undefined) {
    const at = new Date(input.at);
    if (!ISO_WITH_ZONE.test(input.at) || Number.isNaN(at.getTime())) throw invalid(`--at "${input.at}" is not an ISO 8601 time with a zone (e.g. 2026-12-01T01:30:00Z)`);
    if (at.getTime() > now.getTime()) throw invalid(`--at ${at.toISOString()} is in the future (now ${now.toISOString()}): nothing is archived there yet; use --latest for the newest moment`);
    return { kind: 'time', at };
  }
  if (input.lsn !== undefined) {
    if (!LSN.test(input.lsn)) throw invalid(`--lsn "${input.lsn}" is not a WAL position (X/Y in hex, e.g. 0/3000148)`);
    return { kind: 'lsn', lsn: input.lsn.toUpperCase() };
  }
  if (input.name !== undefined) {
    if (!RESTORE_POINT_NAME.test(input.name)) throw invalid(`--name "${input.name}" is not a restore point name (1-63 letters, digits, '.', '_', ':', '-')`);
    return { kind: 'name', name: input.name };
  }
  return { kind: 'latest' };
};

export const describeTarget = (target: RecoveryTarget) =>
  target.kind === 'time' ? `time ${target.at.toISOString()}` : target.kind === 'lsn' ? `LSN ${target.lsn}` : target.kind === 'name' ? `restore point "${target.name}"` : 'the latest archived moment';

/** The target as the plan file records it. */
export const targetValue = (target: RecoveryTarget) =>
  target.kind === 'time' ? target.at.toISOString() : target.kind === 'lsn' ? target.lsn : target.kind === 'name' ? target.name : null;
