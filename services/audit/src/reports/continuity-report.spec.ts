import { aBackupCreatedData, aFailoverCompletedData, anEvent, anIntegrityVerifiedData, aWalArchivedData } from '@continuity/contracts/testing';
import { EventType } from '@continuity/contracts';
import { LedgerEntry } from '../resource-state/resource-state.projection.js';
import { buildContinuityReport } from './continuity-report.js';
import { renderContinuityReportHtml } from './continuity-report.html.js';

let index = 0;
const at = (minute: number) => new Date(Date.UTC(2026, 10, 26, 9, minute)).toISOString();
const entry = (type: EventType, data: any, minute: number, resource = 'orders-db'): LedgerEntry => ({
  logIndex: index++,
  recordedAt: at(minute),
  event: anEvent(type, { resource, data, occurredAt: at(minute) }),
});
const verifiedBackup = (rpMinute: number, verifiedMinute: number, resource = 'orders-db') => {
  const b = aBackupCreatedData({ recoveryPoint: at(rpMinute) });
  return [
    entry('BackupCreated', b, rpMinute, resource),
    entry(
      'IntegrityVerified',
      anIntegrityVerifiedData({
        backupId: b.backupId,
        copies: b.copies.map((c) => ({ location: c.location, uri: c.uri, readable: true, sizeMatch: true, hashMatch: true, actualSha256: c.sha256, durationMs: 1, mbPerSec: 1, error: null })),
      }),
      verifiedMinute,
      resource,
    ),
  ];
};

describe('buildContinuityReport', () => {
  const window = { from: new Date(at(10)), to: new Date(at(50)) };
  const now = new Date(at(60)); // after the window: it ends at `to`

  it('reports the worst gap between verified recovery points, starting from the one before the window', () => {
    index = 0;
    const entries = [...verifiedBackup(5, 6), ...verifiedBackup(12, 13), ...verifiedBackup(30, 31), ...verifiedBackup(34, 35)];
    const [r] = buildContinuityReport(entries, window, now).resources;
    // Recovery points 09:05 → 09:12 → 09:30 → 09:34: the worst gap is 18 min (12 → 30); but the 09:30
    // point was verified only at 09:31, so a disaster at 09:30:59 would have lost 19 min.
    expect(r!.worstRecoveryPointGapMs).toBe(18 * 60_000);
    expect(r!.rpoAchievedMs).toBe(19 * 60_000);
    expect(r!.rpoBreached).toBe(true);
    expect(r!.backups).toEqual({ taken: 3, verified: 3, failedVerification: 0, failed: 0, expired: 0 });
    expect(r!.rpoSeries[0]).toEqual({ at: at(10), exposureMs: 5 * 60_000 });
    expect(r!.rpoSeries[r!.rpoSeries.length - 1]).toEqual({ at: at(50), exposureMs: 16 * 60_000 });
    expect(r!.threeTwoOne?.compliant).toBe(true);
  });

  it('counts failovers and downtime inside the window only', () => {
    index = 0;
    const failover = aFailoverCompletedData({
      rtoMs: 45_000,
      timeline: { firstFailureAt: at(20), detectedAt: at(20), decidedAt: at(20), promotedAt: at(20), writableAt: at(20), routedAt: new Date(Date.parse(at(20)) + 45_000).toISOString() },
    });
    const [r] = buildContinuityReport([entry('FailoverCompleted', failover, 21)], window, now).resources;
    expect(r!.failovers).toHaveLength(1);
    expect(r!.worstRtoMs).toBe(45_000);
    expect(r!.availability).toBeCloseTo(1 - 45_000 / (40 * 60_000), 10);
    expect(r!.sloBreaches.map((b) => b.kind)).toContain('rto');
  });

  it('ignores what happened after the window and lists resources in order', () => {
    index = 0;
    const entries = [...verifiedBackup(15, 16, 'zeta-db'), ...verifiedBackup(15, 16, 'alpha-db'), ...verifiedBackup(55, 56, 'late-db')];
    const report = buildContinuityReport(entries, window, now);
    expect(report.resources.map((r) => r.resource)).toEqual(['alpha-db', 'zeta-db']);
  });

  it('renders HTML with the signed head, a chart per resource, and escaped text', () => {
    index = 0;
    const report = buildContinuityReport([...verifiedBackup(12, 13, 'x<script>')], window, now);
    const html = renderContinuityReportHtml(
      report,
      { treeSize: 42, rootHash: 'ab'.repeat(32), timestamp: at(50), signature: 'c2ln', keyId: 'cd'.repeat(32) },
      { intact: true, checkedAt: at(50), findings: [] },
      now,
    );
    expect(html).toContain('signed tree head <b>42</b>');
    expect(html).toContain('<polyline');
    expect(html).toContain('x&lt;script&gt;');
    expect(html).not.toContain('x<script>');
    expect(html).not.toContain('failed to run');
  });

  it('says so when the ledger\'s tamper check failed to run, rather than vouching from its last report alone', () => {
    index = 0;
    const report = buildContinuityReport([...verifiedBackup(12, 13, 'db')], window, now);
    const head = { treeSize: 42, rootHash: 'ab'.repeat(32), timestamp: at(50), signature: 'c2ln', keyId: 'cd'.repeat(32) };
    const failedToRun = { at: at(55), error: 'relation "audit.merkle_nodes" <does not exist>' };
    const html = renderContinuityReportHtml(report, head, { intact: true, checkedAt: at(50), findings: [], failedToRun }, now);
    expect(html).toContain(`failed to run</b> at ${at(55)} (relation &quot;audit.merkle_nodes&quot; &lt;does not exist&gt;); the last complete check is from ${at(50)}`);
    const never = renderContinuityReportHtml(report, head, { intact: null, checkedAt: null, findings: [], failedToRun }, now);
    expect(never).toContain('no check has completed yet');
    expect(never).not.toContain('Ledger tampering detected');
  });
});

describe('buildContinuityReport with a WAL archive', () => {
  const window = { from: new Date(at(10)), to: new Date(at(50)) };
  const now = new Date(at(60));
  it('measures RPO exposure from WAL shipped after a verified base backup, not only from the backup', () => {
    index = 0;
    const base = aBackupCreatedData({
      recoveryPoint: at(12),
      method: 'basebackup',
      basebackup: { startLsn: '0/3000028', endLsn: '0/3000100', timeline: 1, label: 'continuity-x', pgVersion: '15', systemIdentifier: '7300000000000000000' },
    });
    const [created, verified] = [entry('BackupCreated', base, 12), entry('IntegrityVerified', anIntegrityVerifiedData({ backupId: base.backupId, copies: base.copies.map((c) => ({ location: c.location, uri: c.uri, readable: true, sizeMatch: true, hashMatch: true, actualSha256: c.sha256, durationMs: 1, mbPerSec: 1, error: null })) }), 13)];
    const wal = (minute: number, n: number) => {
      const data = aWalArchivedData({ shippedAt: at(minute) });
      data.segments[0] = { ...data.segments[0]!, startLsn: `${n}/0`, endLsn: `${n + 1}/0` };
      return entry('WalArchived', data, minute);
    };
    const [r] = buildContinuityReport([created, verified, wal(20, 1), wal(30, 2), wal(40, 3)], window, now).resources;
    // Exposure drops at each shipment: the worst is the 10 min between shipments (and at the end, 50 − 40).
    expect(r!.rpoAchievedMs).toBe(10 * 60_000);
    expect(r!.rpoSeries[r!.rpoSeries.length - 1]).toEqual({ at: at(50), exposureMs: 10 * 60_000 });
  });
});
