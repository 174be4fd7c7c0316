import { redactSecrets } from '@continuity/runtime';
import { inSpan } from '@continuity/telemetry';
import type { BackupCreatedV2, IntegrityVerifiedV1 } from '@continuity/contracts';
import { identitiesFor, Manifest, manifestDisagreements, readManifest, type AgeIdentity } from '@continuity/artifacts';
import { checkCopy, CopyOutcome } from '../copies/copy-check.js';
import { CopyReaders } from '../copies/copy-reader.js';
import { formatDuration } from '../config/duration.js';
import { check, RestoreTester, RestoreTestOutcome, skipped } from '../restore-test/restore-test.js';
import { judge, restoreSource } from './verdict.policy.js';

/** Manifests hold a per-file index: generous, but bounded. */
const MAX_MANIFEST_BYTES = 256 << 20;

export interface VerificationRunnerDeps {
  readers: CopyReaders;
  keys: () => readonly AgeIdentity[];
  postgres: RestoreTester;
  directory: RestoreTester;
  basebackup: RestoreTester;
}

export interface RunOptions {
  /** false: copies only (configuration switched restore tests off for this backup). */
  restoreTest: boolean;
  /** Shutdown: aborts the verification without a verdict. */
  signal: AbortSignal;
  /** Wall-clock limit of the whole verification: what has not finished by then is reported as timed out. */
  deadlineMs: number;
  /** Called between steps (long verifications tell JetStream they are still working). */
  onProgress?: (step: string) => void;
}

export type VerificationResult = Omit<IntegrityVerifiedV1, 'trigger'>;

const step = <T>(name: string, attributes: Record<string, string | number>, work: () => Promise<T>) => inSpan('@continuity/verifier', name, attributes, work);

/** Every string of a result with URL credentials redacted (a publisher may put them in a copy's URI; errors may quote one). */
const redacted = <T>(value: T): T =>
  typeof value === 'string'
    ? (redactSecrets(value) as T)
    : Array.isArray(value)
      ? (value.map(redacted) as T)
      : value && typeof value === 'object'
        ? (Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redacted(v)])) as T)
        : value;

/**
 * The verification's clock: one signal that aborts at shutdown or at the deadline, and whether the
 * deadline (not a shutdown) is why a step stopped.
 */
const deadlineOf = (shutdown: AbortSignal, ms: number) => {
  const deadline = AbortSignal.timeout(ms);
  return {
    signal: AbortSignal.any([shutdown, deadline]),
    /** The deadline passed and this is not a shutdown: the step's result is "timed out", not an abort. */
    passed: () => deadline.aborted && !shutdown.aborted,
    words: `the verification deadline (${formatDuration(ms)}, VERIFIER_DEADLINE_MS)`,
  };
};

/**
 * One verification of one backup, start to end, without bookkeeping: every copy read back through
 * SHA-256 (one after another: each is timed on its own, and hashing is CPU-bound anyway), each
 * copy's manifest checked against the event, then a restore test from a good copy, then the
 * verdict. Problems with the backup are results; only an abort (shutdown) throws.
 */
export class VerificationRunner {
  constructor(private readonly deps: VerificationRunnerDeps) {}

  async run(resource: string, backup: BackupCreatedV2, options: RunOptions): Promise<VerificationResult> {
    const deadline = deadlineOf(options.signal, options.deadlineMs);
    const outcomes: (CopyOutcome & { manifest: Manifest | null })[] = [];
    let reference: { location: string; sha256: string } | null = null;
    for (const copy of backup.copies) {
      options.onProgress?.(`copy ${copy.location}`);
      const outcome = await step('verify copy', { 'continuity.copy.location': redactSecrets(copy.location), 'continuity.copy.uri': redactSecrets(copy.uri) }, () =>
        checkCopy(this.deps.readers, copy, deadline.signal).catch((error: unknown) => {
          if (!deadline.passed()) throw error;
          // Not known good or bad: unverifiable, saying what did not finish in time.
          const why = `not read to its end within ${deadline.words}`;
          return { status: 'unverifiable', check: { location: copy.location, uri: copy.uri, readable: false, sizeMatch: false, hashMatch: false, actualSha256: null, durationMs: 0, mbPerSec: null, error: why } } satisfies CopyOutcome;
        }),
      );
      let manifest: Manifest | null = null;
      if (outcome.status === 'good' && copy.manifestUri) {
        const problem = await this.readManifest(copy.manifestUri, backup).then(
          (parsed) => {
            if (parsed.problems.length) return parsed.problems.join('; ');
            if (reference && reference.sha256 !== parsed.sha256) return `differs from the manifest of copy ${reference.location}`;
            reference ??= { location: copy.location, sha256: parsed.sha256 };
            manifest = parsed.manifest;
            return null;
          },
          (error: Error) => error.message,
        );
        if (problem) {
          outcome.status = 'bad';
          outcome.check.error = `manifest ${copy.manifestUri}: ${problem}`;
        }
      }
      outcomes.push({ ...outcome, manifest });
    }
    const restoreTest = options.restoreTest ? await this.restoreTest(resource, backup, outcomes, options, deadline) : null;
    // Interrupted (shutdown): whatever a cut-short step reported is not a verdict on the backup.
    options.signal.throwIfAborted();
    const { verdict, reasons } = judge({ copies: outcomes, restoreTest });
    return redacted({ backupId: backup.backupId, verdict, copies: outcomes.map((o) => o.check), restoreTest: restoreTest?.result ?? null, reasons });
  }

  private async readManifest(uri: string, backup: BackupCreatedV2) {
    const bytes = await this.deps.readers.for(uri).readSmall(uri, MAX_MANIFEST_BYTES);
    const parsed = readManifest(bytes);
    return { ...parsed, problems: manifestDisagreements(parsed.manifest, backup) };
  }

  private async restoreTest(
    resource: string,
    backup: BackupCreatedV2,
    outcomes: (CopyOutcome & { manifest: Manifest | null })[],
    options: RunOptions,
    deadline: ReturnType<typeof deadlineOf>,
  ): Promise<RestoreTestOutcome> {
    const testers: Record<string, RestoreTester> = { 'postgres/pg_dump-custom': this.deps.postgres, 'postgres/basebackup': this.deps.basebackup, 'directory/tar': this.deps.directory };
    const tester = testers[`${backup.resourceKind}/${backup.method}`] ?? null;
    if (!tester) {
      if (backup.resourceKind === 'external') return skipped(`an external ${backup.method} backup: there is no restore test for it; its copies are hash-checked`, null);
      return skipped(`no restore test for ${backup.resourceKind} backups made with ${backup.method}`, `there is no restore test for ${backup.resourceKind} backups made with ${backup.method}`);
    }
    const source = restoreSource(outcomes);
    if (!source) {
      const allUnverifiable = outcomes.length > 0 && outcomes.every((o) => o.status === 'unverifiable');
      return {
        result: { status: 'skipped', durationMs: 0, checks: [check('restore test skipped', false, 'no copy could be read and matched its hash')] },
        unverifiable: allUnverifiable ? 'no copy is in a location this verifier can read' : null,
      };
    }
    const manifest = outcomes.find((o) => o.manifest)?.manifest ?? null;
    const encryption = backup.encryption ?? manifest?.encryption ?? null;
    options.onProgress?.(`restore test from ${source.check.location}`);
    // Started from a good copy and not done in time (a check cut short counts too): the backup cannot be restored within the limit.
    const timedOut = (): RestoreTestOutcome => ({
      result: { status: 'failed', durationMs: options.deadlineMs, checks: [check('restore test finished in time', false, `stopped at ${deadline.words}; its scratch was removed`)] },
      unverifiable: null,
    });
    const tested = step('restore test', { 'continuity.backup.id': backup.backupId, 'continuity.copy.location': source.check.location }, () =>
      tester.run({
        backupId: backup.backupId,
        resource,
        copy: { location: source.check.location, uri: source.check.uri, sizeBytes: backup.copies.find((c) => c.uri === source.check.uri)?.sizeBytes ?? backup.sizeBytes },
        reader: this.deps.readers.for(source.check.uri),
        encryption,
        identities: encryption ? identitiesFor(this.deps.keys(), encryption.recipients) : [],
        // The recorded plaintext is about the artifact whose stored hash the event names.
        plaintext: backup.copies.find((c) => c.uri === source.check.uri)?.sha256 === backup.sha256 ? (backup.plaintext ?? manifest?.plaintext ?? null) : null,
        manifest,
        basebackup: backup.basebackup ?? manifest?.basebackup ?? null,
        signal: deadline.signal,
      }),
    );
    return tested.then(
      (outcome) => (deadline.passed() ? timedOut() : outcome),
      (error: unknown) => {
        if (!deadline.passed()) throw error;
        return timedOut();
      },
    );
  }
}
