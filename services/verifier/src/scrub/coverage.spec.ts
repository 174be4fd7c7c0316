import type { BackupRow } from '../verification/verification.store.js';
import { coverageByResource, walCoverage } from './coverage.js';

const DAY = 86_400_000;
const now = Date.parse('2026-12-01T12:00:00Z');
const row = (backupId: string, resource: string, lastVerifiedAt: string | null, receivedAt = '2026-11-20T00:00:00Z'): BackupRow => ({
  backupId,
  resource,
  eventId: backupId,
  correlationId: backupId,
  data: {} as BackupRow['data'],
  recoveryPoint: receivedAt,
  receivedAt,
  expiredAt: null,
  lastVerifiedAt,
  lastVerdict: lastVerifiedAt ? 'passed' : null,
  lastTrigger: lastVerifiedAt ? 'scrub' : null,
  lastVerificationId: null,
});

describe('coverageByResource (the scrub-coverage gauges, pure)', () => {
  it('gives each resource the share of its retained backups verified within the period, and how many are overdue', () => {
    const rows = [
      row('a1', 'orders-db', '2026-11-30T00:00:00Z'),
      row('a2', 'orders-db', '2026-11-10T00:00:00Z'), // verified, but longer ago than the period
      row('a3', 'orders-db', '2026-12-01T06:00:00Z'),
      row('a4', 'orders-db', null, '2026-12-01T11:00:00Z'), // new, not yet due
      row('d1', 'docs', '2026-11-29T00:00:00Z'),
    ];
    expect(coverageByResource(rows, { now, period: 7 * DAY })).toEqual([
      { resource: 'orders-db', ratio: 0.5, overdue: 1 },
      { resource: 'docs', ratio: 1, overdue: 0 },
    ]);
  });

  it('reports nothing for a verifier with no retained backups', () => {
    expect(coverageByResource([], { now, period: DAY })).toEqual([]);
  });
});

const walNow = Date.parse('2026-12-01T00:00:00.000Z');
const daysAgo = (d: number) => new Date(walNow - d * DAY).toISOString();

describe('WAL coverage (pure)', () => {
  it('counts archived files re-read within the period, never, overdue, and failed at their last check', () => {
    const files = [
      { resource: 'a', receivedAt: daysAgo(40), lastCheckedAt: daysAgo(1), lastOk: true },
      { resource: 'a', receivedAt: daysAgo(40), lastCheckedAt: daysAgo(31), lastOk: true },
      { resource: 'a', receivedAt: daysAgo(2), lastCheckedAt: null, lastOk: null },
      { resource: 'a', receivedAt: daysAgo(40), lastCheckedAt: null, lastOk: null },
      { resource: 'a', receivedAt: daysAgo(5), lastCheckedAt: daysAgo(3), lastOk: false },
    ];
    expect(walCoverage(files, walNow, 30 * DAY)).toEqual({ archivedFiles: 5, verifiedWithinPeriod: 2, neverVerified: 2, notPassed: 1, overdue: 2 });
    expect(walCoverage([], walNow, 30 * DAY)).toEqual({ archivedFiles: 0, verifiedWithinPeriod: 0, neverVerified: 0, notPassed: 0, overdue: 0 });
  });
});
