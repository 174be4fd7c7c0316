import type { Envelope } from '@continuity/contracts';
import type { CommittedCopy, RunPlan } from './backup-run.decider.js';
import type { Digest } from '@continuity/artifacts';

/** Why a run failed, as recorded: the stage, the reason, and what was done with its copies. */
export interface RecordedFailure {
  stage: string;
  reason: string;
  location: string | null;
  cleanedUp: unknown[];
}

/** A run whose process stopped sending progress: what is needed to clean up after it. */
export interface StaleRun {
  backupId: string;
  resource: string;
  resourceKind: string;
  method: string;
  startedAt: string;
  recoveryPoint: string;
  bytesDone: number;
  artifactExtension: string;
  plannedCopies: RunPlan['copies'];
}

/**
 * Where a run records its state and queues its events: the runner's view of the catalogue. It is
 * declared here, by the run, so the catalogue (which stores runs) depends on the run and not the
 * other way round. Delivery guarantees: `created`, `failed` queue their event in the same
 * transaction as the state change; `flushOutbox` publishes what is queued, oldest first.
 */
export interface RunCatalogue {
  /** Records a run as started; throws `BackupAlreadyRunningError` while another run of the resource is running. */
  start(plan: RunPlan, details: { trigger: string; owner: string; bytesExpected: number | null; extension: string }): Promise<void>;
  progress(backupId: string, bytesDone: number, bytesExpected?: number | null): Promise<void>;
  created(backupId: string, fields: { finishedAt: string; stored: Digest; plaintext: Digest; copies: CommittedCopy[]; bytesDone: number }, event: Envelope): Promise<void>;
  failed(backupId: string, fields: { finishedAt: string; error: RecordedFailure; bytesDone: number }, event: Envelope): Promise<void>;
  flushOutbox(publish: (event: Envelope) => Promise<unknown>): Promise<number>;
  stale(olderThanMs: number): Promise<StaleRun[]>;
}
