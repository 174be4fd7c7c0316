import type { EventDataMap } from '@continuity/contracts';
import type { ArtifactFormat, BaseBackupInfo, Digest, ResourceKind } from '@continuity/artifacts';

/**
 * One backup run as a decider: `decide(command, state) → events`, `evolve(state, event) → state`,
 * no I/O, time passed in. It holds the rules that make `BackupCreated` trustworthy: it exists only
 * when every planned copy was committed with the artifact's exact size and SHA-256, and a run that
 * failed anywhere can only end in `BackupFailed`, after its copies were cleaned up.
 */

export interface CopyPlacement {
  location: string;
  site: string;
  medium: string;
}

export interface RunPlan {
  backupId: string;
  resource: string;
  policy: string;
  resourceKind: ResourceKind;
  method: ArtifactFormat;
  startedAt: string;
  recoveryPoint: string;
  copies: CopyPlacement[];
  encryption: { format: 'age'; recipients: string[] } | null;
  threeTwoOne: { compliant: boolean; resourceSite: string; failedRules: ('three-copies' | 'two-media' | 'one-offsite')[]; optOut: string | null };
}

export interface CommittedCopy extends CopyPlacement {
  uri: string;
  manifestUri: string;
  sha256: string;
  sizeBytes: number;
}

export type FailureStage = 'config' | 'source' | 'copy' | 'finalize';
export interface RunFailure {
  stage: FailureStage;
  reason: string;
  location: string | null;
}
export interface Cleanup {
  location: string;
  uri: string;
  removed: boolean;
  error: string | null;
}

/** What the source produced: the artifact's digests and, for a base backup, its WAL range and identity. */
export interface SourceResult {
  stored: Digest;
  plaintext: Digest;
  basebackup?: BaseBackupInfo | null;
}

export type RunState =
  | { status: 'none' }
  | { status: 'running'; plan: RunPlan; bytesDone: number; source: SourceResult | null; committed: CommittedCopy[] }
  | { status: 'failing'; plan: RunPlan; bytesDone: number; failure: RunFailure }
  | { status: 'created'; plan: RunPlan; bytesDone: number; source: SourceResult; committed: CommittedCopy[]; finishedAt: string }
  | { status: 'failed'; plan: RunPlan; bytesDone: number; failure: RunFailure; cleanedUp: Cleanup[]; finishedAt: string };

export type RunCommand =
  | { type: 'StartBackup'; plan: RunPlan }
  | { type: 'RecordProgress'; bytesDone: number }
  | ({ type: 'CompleteSource' } & SourceResult)
  | { type: 'CommitCopy'; location: string; uri: string; manifestUri: string; sha256: string; sizeBytes: number }
  | { type: 'FailRun'; failure: RunFailure }
  | { type: 'RecordCleanup'; cleanedUp: Cleanup[]; at: string }
  | { type: 'CompleteRun'; at: string };

export type RunEvent =
  | { type: 'RunStarted'; plan: RunPlan }
  | { type: 'ProgressRecorded'; bytesDone: number }
  | ({ type: 'SourceCompleted' } & SourceResult)
  | { type: 'CopyCommitted'; copy: CommittedCopy }
  | { type: 'RunFailed'; failure: RunFailure }
  | { type: 'CopiesCleanedUp'; cleanedUp: Cleanup[]; at: string }
  | { type: 'RunCompleted'; at: string };

export class IllegalRunStateError extends Error {
  override readonly name = 'IllegalRunStateError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export const initialState = (): RunState => ({ status: 'none' });

export const decide = (command: RunCommand, state: RunState): RunEvent[] => {
  switch (command.type) {
    case 'StartBackup':
      if (state.status !== 'none') throw new IllegalRunStateError('BACKUP.ALREADY_STARTED', `backup ${state.plan.backupId} already started`);
      if (!command.plan.copies.length) throw new IllegalRunStateError('BACKUP.NO_COPIES', 'a backup needs at least one copy location');
      return [{ type: 'RunStarted', plan: command.plan }];
    case 'RecordProgress':
      if (state.status !== 'running' || command.bytesDone <= state.bytesDone) return [];
      return [{ type: 'ProgressRecorded', bytesDone: command.bytesDone }];
    case 'CompleteSource':
      if (state.status !== 'running') throw notRunning(state, 'complete the source');
      if (state.source) throw new IllegalRunStateError('BACKUP.SOURCE_ALREADY_COMPLETE', 'the source completed twice');
      return [{ type: 'SourceCompleted', stored: command.stored, plaintext: command.plaintext, basebackup: command.basebackup ?? null }];
    case 'CommitCopy': {
      if (state.status !== 'running') throw notRunning(state, `commit copy ${command.location}`);
      if (!state.source) throw new IllegalRunStateError('BACKUP.SOURCE_INCOMPLETE', `copy ${command.location} committed before the source completed`);
      const placement = state.plan.copies.find((c) => c.location === command.location);
      if (!placement) throw new IllegalRunStateError('BACKUP.UNKNOWN_COPY', `${command.location} is not a copy location of this backup`);
      if (state.committed.some((c) => c.location === command.location)) return [];
      if (command.sha256 !== state.source.stored.sha256 || command.sizeBytes !== state.source.stored.sizeBytes) {
        throw new IllegalRunStateError(
          'BACKUP.COPY_MISMATCH',
          `copy ${command.location} holds ${command.sizeBytes} bytes with SHA-256 ${command.sha256}, the artifact is ${state.source.stored.sizeBytes} bytes with ${state.source.stored.sha256}`,
        );
      }
      const { type: _type, ...copy } = command;
      return [{ type: 'CopyCommitted', copy: { ...placement, ...copy } }];
    }
    case 'FailRun':
      if (state.status === 'running') return [{ type: 'RunFailed', failure: command.failure }];
      if (state.status === 'failing' || state.status === 'failed') return []; // the first failure is the reason
      if (state.status === 'created') throw new IllegalRunStateError('BACKUP.ALREADY_CREATED', `backup ${state.plan.backupId} was created: it cannot fail now`);
      throw new IllegalRunStateError('BACKUP.NOT_STARTED', 'cannot fail a backup that never started');
    case 'RecordCleanup':
      if (state.status !== 'failing') throw new IllegalRunStateError('BACKUP.NOT_FAILING', 'cleanup is recorded only for a failed run');
      return [{ type: 'CopiesCleanedUp', cleanedUp: command.cleanedUp, at: command.at }];
    case 'CompleteRun': {
      if (state.status !== 'running') throw notRunning(state, 'complete the run');
      const missing = state.plan.copies.filter((p) => !state.committed.some((c) => c.location === p.location)).map((p) => p.location);
      if (!state.source || missing.length) {
        throw new IllegalRunStateError('BACKUP.INCOMPLETE', `not every copy is committed (missing: ${missing.join(', ') || 'source'})`);
      }
      return [{ type: 'RunCompleted', at: command.at }];
    }
    default: {
      const unreachable: never = command;
      throw new Error(`unknown command ${JSON.stringify(unreachable)}`);
    }
  }
};

const notRunning = (state: RunState, what: string) =>
  new IllegalRunStateError('BACKUP.NOT_RUNNING', `cannot ${what}: the backup is ${state.status === 'none' ? 'not started' : state.status}`);

export const evolve = (state: RunState, event: RunEvent): RunState => {
  switch (event.type) {
    case 'RunStarted':
      return { status: 'running', plan: event.plan, bytesDone: 0, source: null, committed: [] };
    case 'ProgressRecorded':
      return state.status === 'running' ? { ...state, bytesDone: event.bytesDone } : state;
    case 'SourceCompleted':
      return state.status === 'running' ? { ...state, source: { stored: event.stored, plaintext: event.plaintext, basebackup: event.basebackup ?? null } } : state;
    case 'CopyCommitted':
      return state.status === 'running' ? { ...state, committed: [...state.committed, event.copy] } : state;
    case 'RunFailed':
      return state.status === 'running' ? { status: 'failing', plan: state.plan, bytesDone: state.bytesDone, failure: event.failure } : state;
    case 'CopiesCleanedUp':
      return state.status === 'failing' ? { ...state, status: 'failed', cleanedUp: event.cleanedUp, finishedAt: event.at } : state;
    case 'RunCompleted':
      return state.status === 'running' && state.source
        ? { status: 'created', plan: state.plan, bytesDone: state.bytesDone, source: state.source, committed: state.committed, finishedAt: event.at }
        : state;
  }
};

/** Applies a command: the new state and the events it produced. */
export const handle = (state: RunState, command: RunCommand): { state: RunState; events: RunEvent[] } => {
  const events = decide(command, state);
  return { state: events.reduce(evolve, state), events };
};

/** The `BackupCreated` fact of a created run; copies in the plan's order. */
export const backupCreatedData = (state: Extract<RunState, { status: 'created' }>): EventDataMap['BackupCreated'] => ({
  backupId: state.plan.backupId,
  resourceKind: state.plan.resourceKind,
  method: state.plan.method,
  recoveryPoint: state.plan.recoveryPoint,
  sizeBytes: state.source.stored.sizeBytes,
  sha256: state.source.stored.sha256,
  copies: state.plan.copies.map((p) => {
    const c = state.committed.find((x) => x.location === p.location)!;
    return { location: c.location, site: c.site, medium: c.medium, uri: c.uri, sha256: c.sha256, sizeBytes: c.sizeBytes, manifestUri: c.manifestUri };
  }),
  policy: state.plan.policy,
  plaintext: state.source.plaintext,
  encryption: state.plan.encryption,
  threeTwoOne: state.plan.threeTwoOne,
  ...(state.source.basebackup ? { basebackup: baseBackupFacts(state.source.basebackup) } : {}),
});

/** The event carries what a reader of the fact needs; the manifest also has the backup_manifest's hash. */
const baseBackupFacts = ({ backupManifestSha256: _inManifest, ...facts }: BaseBackupInfo) => facts;

export const backupFailedData = (state: Extract<RunState, { status: 'failed' }>): EventDataMap['BackupFailed'] => ({
  backupId: state.plan.backupId,
  resourceKind: state.plan.resourceKind,
  method: state.plan.method,
  stage: state.failure.stage,
  reason: state.failure.reason,
  location: state.failure.location,
  cleanedUp: state.cleanedUp,
});
