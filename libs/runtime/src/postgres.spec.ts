import { defaultRestoreJobs } from './postgres.js';

describe('defaultRestoreJobs', () => {
  it('is one job per core, at least one and at most four', () => {
    expect([0, 1, 2, 3, 4, 8, 64].map((cores) => defaultRestoreJobs(cores))).toEqual([1, 1, 2, 3, 4, 4, 4]);
  });
});
