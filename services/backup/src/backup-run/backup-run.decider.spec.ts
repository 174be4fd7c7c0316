import { backupCreatedData, backupFailedData, decide, evolve, handle, initialState, RunCommand, RunEvent, RunPlan, RunState } from './backup-run.decider.js';

const sha = (c: string) => c.repeat(64);
const plan: RunPlan = {
  backupId: '01935c3e-7b1a-7cc2-9a55-3f8d2f1e0b6a',
  resource: 'orders-db',
  policy: 'orders-nightly',
  resourceKind: 'postgres',
  method: 'pg_dump-custom',
  startedAt: '2026-11-26T09:00:00.000Z',
  recoveryPoint: '2026-11-26T09:00:00.000Z',
  copies: [
    { location: 'a', site: 'eu-west-1a', medium: 'disk' },
    { location: 'b', site: 'eu-west-1a', medium: 'disk' },
    { location: 'c', site: 'eu-central-1', medium: 'object' },
  ],
  encryption: null,
  threeTwoOne: { compliant: true, resourceSite: 'eu-west-1a', failedRules: [], optOut: null },
};
const source = { stored: { sha256: sha('a'), sizeBytes: 10 }, plaintext: { sha256: sha('a'), sizeBytes: 10 } };
const commit = (location: string, over: Partial<Extract<RunCommand, { type: 'CommitCopy' }>> = {}): RunCommand => ({
  type: 'CommitCopy',
  location,
  uri: `file:///${location}/x.dump`,
  manifestUri: `file:///${location}/x.manifest.json`,
  sha256: sha('a'),
  sizeBytes: 10,
  ...over,
});

/** given(events).when(command).then(events) */
const given = (...events: RunEvent[]) => {
  const state = events.reduce(evolve, initialState());
  return {
    when: (command: RunCommand) => ({
      then: (expected: RunEvent[]) => expect(decide(command, state)).toEqual(expected),
      thenThrows: (code: string) => expect(() => decide(command, state)).toThrow(code),
    }),
  };
};

const started: RunEvent = { type: 'RunStarted', plan };
const sourceDone: RunEvent = { type: 'SourceCompleted', ...source };
const committed = (location: string): RunEvent => {
  const p = plan.copies.find((c) => c.location === location)!;
  return { type: 'CopyCommitted', copy: { ...p, uri: `file:///${location}/x.dump`, manifestUri: `file:///${location}/x.manifest.json`, sha256: sha('a'), sizeBytes: 10 } };
};

describe('backup run decider', () => {
  it('starts once', () => {
    given().when({ type: 'StartBackup', plan }).then([started]);
    given(started).when({ type: 'StartBackup', plan }).thenThrows('BACKUP.ALREADY_STARTED');
  });

  it('refuses a copy before the source is complete, and a copy that differs from the artifact', () => {
    given(started).when(commit('a')).thenThrows('BACKUP.SOURCE_INCOMPLETE');
    given(started, sourceDone).when(commit('a', { sha256: sha('b') })).thenThrows('BACKUP.COPY_MISMATCH');
    given(started, sourceDone).when(commit('a', { sizeBytes: 9 })).thenThrows('BACKUP.COPY_MISMATCH');
    given(started, sourceDone).when(commit('z')).thenThrows('BACKUP.UNKNOWN_COPY');
  });

  it('is idempotent when the same copy is committed twice', () => {
    given(started, sourceDone, committed('a')).when(commit('a')).then([]);
  });

  it('completes only when every planned copy is committed', () => {
    given(started, sourceDone, committed('a'), committed('b')).when({ type: 'CompleteRun', at: 'x' }).thenThrows('missing: c');
    given(started, sourceDone, committed('a'), committed('b'), committed('c')).when({ type: 'CompleteRun', at: 'x' }).then([{ type: 'RunCompleted', at: 'x' }]);
  });

  it('keeps the first failure, and never fails a created backup', () => {
    const failed: RunEvent = { type: 'RunFailed', failure: { stage: 'copy', reason: 'b: ENOSPC', location: 'b' } };
    given(started).when({ type: 'FailRun', failure: { stage: 'source', reason: 'x', location: null } }).then([
      { type: 'RunFailed', failure: { stage: 'source', reason: 'x', location: null } },
    ]);
    given(started, failed).when({ type: 'FailRun', failure: { stage: 'source', reason: 'later', location: null } }).then([]);
    given(started, failed).when(commit('a')).thenThrows('BACKUP.NOT_RUNNING');
    given(started, sourceDone, committed('a'), committed('b'), committed('c'), { type: 'RunCompleted', at: 'x' })
      .when({ type: 'FailRun', failure: { stage: 'copy', reason: 'x', location: 'a' } })
      .thenThrows('BACKUP.ALREADY_CREATED');
  });

  it('maps a created run to BackupCreated with every copy, in plan order', () => {
    let state: RunState = initialState();
    for (const command of [
      { type: 'StartBackup', plan },
      { type: 'CompleteSource', ...source },
      commit('c'),
      commit('a'),
      commit('b'),
      { type: 'CompleteRun', at: '2026-11-26T09:01:00.000Z' },
    ] as RunCommand[]) {
      state = handle(state, command).state;
    }
    expect(state.status).toBe('created');
    const data = backupCreatedData(state as Extract<RunState, { status: 'created' }>);
    expect(data.copies.map((c) => c.location)).toEqual(['a', 'b', 'c']);
    expect(data).toMatchObject({ backupId: plan.backupId, sha256: sha('a'), sizeBytes: 10, policy: 'orders-nightly', plaintext: source.plaintext });
  });

  it('maps a failed run, after cleanup, to BackupFailed with what was cleaned up', () => {
    let state = handle(initialState(), { type: 'StartBackup', plan }).state;
    state = handle(state, { type: 'FailRun', failure: { stage: 'copy', reason: 'b: ENOSPC', location: 'b' } }).state;
    expect(() => handle(state, { type: 'CompleteRun', at: 'x' })).toThrow('BACKUP.NOT_RUNNING');
    const cleanedUp = plan.copies.map((c) => ({ location: c.location, uri: `file:///${c.location}`, removed: true, error: null }));
    state = handle(state, { type: 'RecordCleanup', cleanedUp, at: '2026-11-26T09:01:00.000Z' }).state;
    expect(backupFailedData(state as Extract<RunState, { status: 'failed' }>)).toEqual({
      backupId: plan.backupId,
      resourceKind: 'postgres',
      method: 'pg_dump-custom',
      stage: 'copy',
      reason: 'b: ENOSPC',
      location: 'b',
      cleanedUp,
    });
  });
});
