import { walCoverage } from './coverage.js';

const DAY = 86_400_000;
const now = Date.parse('2026-12-01T00:00:00.000Z');
const at = (daysAgo: number) => new Date(now - daysAgo * DAY).toISOString();

describe('WAL coverage (pure)', () => {
  it('counts archived files re-read within the period, never, overdue, and failed at their last check', () => {
    const files = [
      { resource: 'a', receivedAt: at(40), lastCheckedAt: at(1), lastOk: true },
      { resource: 'a', receivedAt: at(40), lastCheckedAt: at(31), lastOk: true },
      { resource: 'a', receivedAt: at(2), lastCheckedAt: null, lastOk: null },
      { resource: 'a', receivedAt: at(40), lastCheckedAt: null, lastOk: null },
      { resource: 'a', receivedAt: at(5), lastCheckedAt: at(3), lastOk: false },
    ];
    expect(walCoverage(files, now, 30 * DAY)).toEqual({ archivedFiles: 5, verifiedWithinPeriod: 2, neverVerified: 2, notPassed: 1, overdue: 2 });
    expect(walCoverage([], now, 30 * DAY)).toEqual({ archivedFiles: 0, verifiedWithinPeriod: 0, neverVerified: 0, notPassed: 0, overdue: 0 });
  });
});
