import { aBackupCreatedData, aDrillCompletedData, anEvent, anIntegrityVerifiedData } from '@continuity/contracts/testing';
import type { LedgerEntry } from '../resource-state/resource-state.projection.js';
import { buildRecoveryTestingReport } from './recovery-testing.js';

const window = { from: new Date('2026-11-01T00:00:00.000Z'), to: new Date('2026-12-01T00:00:00.000Z') };
const targets = { rtoMs: 30_000, rpoMs: 300_000 };

const ledger = (...events: ReturnType<typeof anEvent>[]): LedgerEntry[] => events.map((event, logIndex) => ({ logIndex, recordedAt: event.occurredAt, event }));

describe('recovery-testing report', () => {
  const backup = aBackupCreatedData({ recoveryPoint: '2026-11-10T08:58:00.000Z' });
  const passedDrill = anEvent('DrillCompleted', { resource: 'orders-db', occurredAt: '2026-11-10T09:00:04.000Z', data: aDrillCompletedData({ finishedAt: '2026-11-10T09:00:04.000Z' }) });
  const failedDrill = anEvent('DrillCompleted', {
    resource: 'orders-db',
    occurredAt: '2026-11-12T09:00:30.000Z',
    data: aDrillCompletedData({
      drillId: '01937a5e-0000-7000-8000-00000000d2d2',
      outcome: 'failed',
      finishedAt: '2026-11-12T09:00:30.000Z',
      achieved: { rtoMs: 45_000, rpoMs: 60_000 },
      failedStep: 'restore',
      reason: 'restore step failed: restore took 45.0 s, above the RTO target of 30.0 s',
    }),
  });
  const restoreTest = anEvent('IntegrityVerified', {
    resource: 'files',
    occurredAt: '2026-11-10T09:01:00.000Z',
    data: anIntegrityVerifiedData({ backupId: backup.backupId, restoreTest: { status: 'failed', durationMs: 1_200, checks: [{ name: 'file hashes', passed: false, detail: 'a.txt differs' }] } }),
  });

  it('lists every drill and restore test per resource with achieved RTO/RPO against targets, and the failures with their causes', () => {
    const report = buildRecoveryTestingReport(ledger(anEvent('BackupCreated', { resource: 'files', data: backup, occurredAt: '2026-11-10T08:59:00.000Z' }), passedDrill, failedDrill, restoreTest), window, targets);
    expect(report.resources.map((r) => r.resource)).toEqual(['files', 'orders-db']);
    const orders = report.resources[1]!;
    expect(orders.drills).toEqual({ total: 2, passed: 1, failed: 1 });
    expect(orders.worstRtoMs).toBe(45_000);
    expect(orders.lastDrill).toMatchObject({ id: '01937a5e-0000-7000-8000-00000000d2d2', outcome: 'failed' });
    expect(orders.failures).toEqual([expect.objectContaining({ failedStep: 'restore', rtoMet: false, rpoMet: true, cause: 'restore step failed: restore took 45.0 s, above the RTO target of 30.0 s', eventId: failedDrill.id, logIndex: 2 })]);
    const files = report.resources[0]!;
    // RPO of a restore test: how old the recovery point it proved restorable was (09:01 - 08:58).
    expect(files.tests).toEqual([expect.objectContaining({ kind: 'restore-test', outcome: 'failed', rtoMs: 1_200, rpoMs: 180_000, rtoMet: true, rpoMet: true, cause: expect.stringContaining('file hashes (a.txt differs)') })]);
    expect(report.estate).toEqual({ resources: 2, drills: { total: 2, passed: 1, failed: 1 }, restoreTests: { total: 1, passed: 0, failed: 1 }, failures: 2, resourcesWithoutDrill: ['files'] });
  });

  it('keeps out tests outside the period and verifications without a restore test', () => {
    const before = anEvent('DrillCompleted', { resource: 'orders-db', occurredAt: '2026-10-31T23:59:59.000Z', data: aDrillCompletedData() });
    const noTest = anEvent('IntegrityVerified', { resource: 'files', occurredAt: '2026-11-10T09:01:00.000Z', data: anIntegrityVerifiedData({ restoreTest: null }) });
    expect(buildRecoveryTestingReport(ledger(before, noTest), window, targets).resources).toEqual([]);
  });

  it('is the same report from the same entries (recomputable from an export)', () => {
    const entries = ledger(passedDrill, failedDrill, restoreTest);
    expect(buildRecoveryTestingReport(entries, window, targets)).toEqual(buildRecoveryTestingReport(entries, window, targets));
  });
});
