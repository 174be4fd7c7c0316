import { defaultRestoreJobs, newDatabaseRestoreEnv } from './postgres.js';

describe('defaultRestoreJobs', () => {
  it('is one job per core, at least one and at most four', () => {
    expect([0, 1, 2, 3, 4, 8, 64].map((cores) => defaultRestoreJobs(cores))).toEqual([1, 1, 2, 3, 4, 4, 4]);
  });
});

describe('newDatabaseRestoreEnv', () => {
  it('turns synchronous commit off for the session, the caller’s own PGOPTIONS after it (they win)', () => {
    expect(newDatabaseRestoreEnv(undefined)).toEqual({ PGOPTIONS: '-c synchronous_commit=off' });
    expect(newDatabaseRestoreEnv(' -c statement_timeout=0 ')).toEqual({ PGOPTIONS: '-c synchronous_commit=off -c statement_timeout=0' });
  });
});
