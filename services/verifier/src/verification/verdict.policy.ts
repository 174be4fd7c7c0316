import type { IntegrityVerifiedV1 } from '@continuity/contracts';
import type { CopyOutcome } from '../copies/copy-check.js';
import type { RestoreTestOutcome } from '../restore-test/restore-test.js';

export interface VerdictInput {
  copies: CopyOutcome[];
  /** null: restore tests are switched off for this backup (configuration). */
  restoreTest: RestoreTestOutcome | null;
}

/**
 * The verdict (pure). `failed` when any copy is missing, unreadable or different, or any restore
 * check failed; otherwise `unverifiable` when a copy is where this verifier cannot read or the
 * restore test could not be done; otherwise `passed`. Every failing copy and check is named in
 * `reasons`, unverifiable ones too, so a failed verdict also says what could not be checked.
 */
export const judge = (input: VerdictInput): Pick<IntegrityVerifiedV1, 'verdict' | 'reasons'> => {
  const failures: string[] = [];
  const unverifiable: string[] = [];
  for (const { check, status } of input.copies) {
    if (status === 'bad') failures.push(`copy ${check.location} (${check.uri}): ${check.error ?? 'failed'}`);
    if (status === 'unverifiable') unverifiable.push(`copy ${check.location} (${check.uri}) is unverifiable: ${check.error ?? 'no reason given'}`);
  }
  if (input.copies.length === 0) failures.push('the backup lists no copies');
  const restore = input.restoreTest;
  if (restore) {
    if (restore.unverifiable) unverifiable.push(`restore test not possible: ${restore.unverifiable}`);
    else if (restore.result.status === 'failed') {
      const failed = restore.result.checks.filter((c) => !c.passed);
      if (!failed.length) failures.push('restore test failed');
      for (const check of failed) failures.push(`restore test: ${check.name} failed${check.detail ? `: ${check.detail}` : ''}`);
    }
  }
  if (failures.length) return { verdict: 'failed', reasons: [...failures, ...unverifiable] };
  if (unverifiable.length) return { verdict: 'unverifiable', reasons: unverifiable };
  return { verdict: 'passed', reasons: [] };
};

/** The copy a restore test reads: a good one, local files first (they are the fastest to read). */
export const restoreSource = <C extends CopyOutcome>(copies: readonly C[]): C | null =>
  copies.find((c) => c.status === 'good' && c.check.uri.startsWith('file:')) ?? copies.find((c) => c.status === 'good') ?? null;
