import { aBackupExpiredData, aResourceDegradedData, aWalGapDetectedData } from '@continuity/contracts/testing';
import { at, atDate, baseBackup, dump, entry, fold, resetLog, verdict, verifiedBackup, walShipment } from '../../test/findings-fixtures.js';
import { assessProtection, lsnValue, MAX_RETAINED, recoverableMoment, recoverableWindow, rpoExposure } from './protection.projection.js';
import { evolveResourceState } from './resource-state.projection.js';

describe('protection projection', () => {
  beforeEach(resetLog);

  it('given dumps, the recoverable window runs from the oldest retained to the newest, and expiry moves its start', () => {
    const a = dump(0);
    const b = dump(30);
    const state = fold([...verifiedBackup(a, 0), ...verifiedBackup(b, 30)]);
    expect(recoverableWindow(state.protection)).toEqual({ earliest: at(0), latest: at(30), walBased: false });
    const expired = fold([entry('BackupExpired', aBackupExpiredData({ backupId: a.backupId }), 40)], state);
    expect(recoverableWindow(expired.protection)).toEqual({ earliest: at(30), latest: at(30), walBased: false });
  });

  it('given a base backup and WAL shipped after it, the window ends at the newest WAL shipped', () => {
    const base = baseBackup(0);
    const state = fold([...verifiedBackup(base, 0), entry('WalArchived', walShipment(5, 1), 5), entry('WalArchived', walShipment(9, 2), 9)]);
    expect(recoverableWindow(state.protection)).toEqual({ earliest: at(0), latest: at(9), walBased: true });
    expect(recoverableMoment(state)?.at).toBe(at(9));
  });

  it('RPO exposure grows with the clock, not only when events arrive, and counts copies (≥ 3 and ≥ 1)', () => {
    const base = baseBackup(0);
    const state = fold([...verifiedBackup(base, 0), entry('WalArchived', walShipment(5, 1, 3), 5), entry('WalArchived', walShipment(8, 2, 1), 8)]);
    const at10 = rpoExposure(state.protection, atDate(10));
    expect(at10.threeCopiesMs).toBe(5 * 60_000);
    expect(at10.oneCopyMs).toBe(2 * 60_000);
    const at20 = rpoExposure(state.protection, atDate(20));
    expect(at20.threeCopiesMs).toBe(15 * 60_000);
    expect(at20.oneCopyMs).toBe(12 * 60_000);
    expect(at20.walBased).toBe(true);
  });

  it('WAL shipped without any base backup gives no recoverable moment of its own', () => {
    const state = fold([entry('WalArchived', walShipment(5, 1), 5)]);
    expect(recoverableWindow(state.protection)).toBeNull();
    expect(rpoExposure(state.protection, atDate(10)).oneCopyMs).toBeNull();
  });

  it('a gap in the WAL chain is found from the shipments, stops WAL from extending the window, and a new base backup closes it', () => {
    const base = baseBackup(0);
    const gapped = fold([...verifiedBackup(base, 0), entry('WalArchived', walShipment(5, 1), 5), entry('WalArchived', walShipment(9, 3), 9)]);
    expect(gapped.protection?.walGap?.detail).toContain('2/0…3/0');
    expect(recoverableWindow(gapped.protection)?.walBased).toBe(false);
    const rebased = fold([entry('BackupCreated', baseBackup(12), 12)], gapped);
    expect(rebased.protection?.walGap).toBeNull();
  });

  it("the backup service's WalGapDetected is a gap, naming the range, until a newer base backup", () => {
    const gap = fold([entry('WalGapDetected', aWalGapDetectedData({ fromLsn: '0/5000000', toLsn: '0/9000000', detectedAt: '2026-11-26T09:00:00.000Z' }), 3)]);
    expect(gap.protection?.walGap).toMatchObject({ at: '2026-11-26T09:00:00.000Z' });
    expect(gap.protection?.walGap?.detail).toContain('0/5000000…0/9000000 on timeline 1');
  });

  it('a ResourceDegraded naming a WAL gap is a gap; another reason is not', () => {
    const gap = fold([entry('ResourceDegraded', aResourceDegradedData({ reason: 'WAL gap: replication slot was dropped, 0/5000000 lost' }), 3)]);
    expect(gap.protection?.walGap?.detail).toContain('slot was dropped');
    expect(fold([entry('ResourceDegraded', aResourceDegradedData({ reason: 'former primary came back' }), 3)]).protection).toBeUndefined();
  });

  it('a WalVerified reporting gaps (another slice\'s event, folded only if present) is a gap; one without is not', () => {
    const walVerified = (minute: number, gaps: unknown[]) => {
      const e = entry('DeadLetterReplayed', {}, minute);
      return { ...e, event: { ...e.event, type: 'WalVerified', source: 'verifier', data: { gaps } } } as typeof e;
    };
    expect(fold([walVerified(3, [])]).protection).toBeUndefined();
    expect(fold([walVerified(3, [{ from: '0/5000000', to: '0/6000000' }])]).protection?.walGap?.detail).toContain('1 gap(s)');
  });

  it('a failed scrub of the verified recovery point withdraws its bad copy and 3-2-1, naming the event', () => {
    const b = dump(0);
    const verified = fold(verifiedBackup(b, 0));
    expect(verified.lastVerified?.threeTwoOne.compliant).toBe(true);
    const scrub = entry('IntegrityVerified', verdict(b, ['offsite'], { trigger: 'scrub' }), 60);
    const after = fold([scrub], verified);
    expect(after.lastVerified?.passedCopies.map((c) => c.location)).toEqual(['local-disk', 'nas']);
    expect(after.lastVerified?.threeTwoOne.compliant).toBe(false);
    expect(after.protection?.threeTwoOneLost).toMatchObject({ eventId: scrub.event.id, locations: ['offsite'] });
    expect(after.protection?.retained[0]?.badCopies).toEqual(['offsite']);
  });

  it('a passed restore test of a base backup is the last verified point-in-time restore', () => {
    const base = baseBackup(0);
    const state = fold(verifiedBackup(base, 0, 2));
    expect(assessProtection(state, atDate(5)).lastVerifiedPitr).toMatchObject({ backupId: base.backupId, at: at(2), restoreMs: 1200, point: at(0) });
  });

  it('is idempotent when the same entry is delivered twice', () => {
    const entries = [...verifiedBackup(baseBackup(0), 0), entry('WalArchived', walShipment(5, 1), 5)];
    const once = fold(entries);
    expect(evolveResourceState(once, entries[2]!)).toBe(once);
  });

  it('compares WAL positions as 64-bit numbers', () => {
    expect(lsnValue('1/0') > lsnValue('0/FFFFFFFF')).toBe(true);
    expect(lsnValue('FFFFFFFF/FFFFFFFF')).toBe(2n ** 64n - 1n);
  });
});

describe('retained backups', () => {
  beforeEach(resetLog);

  it('are kept in point order whatever order they arrive in, at most MAX_RETAINED, the oldest dropped first', () => {
    const late = dump(30);
    const early = dump(10);
    const middle = dump(20);
    const state = fold([entry('BackupCreated', late, 30), entry('BackupCreated', early, 31), entry('BackupCreated', middle, 32)]);
    expect(state.protection?.retained.map((b) => b.backupId)).toEqual([early.backupId, middle.backupId, late.backupId]);
    const many = fold(Array.from({ length: MAX_RETAINED + 5 }, (_, i) => entry('BackupCreated', dump(i), i)));
    expect(many.protection?.retained).toHaveLength(MAX_RETAINED);
    expect(many.protection?.retained[0]?.point).toBe(at(5));
  });
});
