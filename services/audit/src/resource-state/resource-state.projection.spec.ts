import { EventType } from '@continuity/contracts';
import {
  aBackupCreatedData,
  aFailoverAbandonedData,
  aFailoverCompletedData,
  aFailoverTriggeredData,
  anEvent,
  anIntegrityVerifiedData,
} from '@continuity/contracts/testing';
import { assessAt, evolveResourceState, LedgerEntry, ResourceState, threeTwoOneOf } from './resource-state.projection.js';

let index = 0;
const entry = <T extends EventType>(type: T, data: any, at = '2026-11-26T10:00:00.000Z'): LedgerEntry => ({
  logIndex: index++,
  recordedAt: at,
  event: anEvent(type, { resource: 'orders-db', data, occurredAt: at }),
});
const fold = (entries: LedgerEntry[]) => entries.reduce<ResourceState | null>((s, e) => evolveResourceState(s, e), null)!;

const backup = (recoveryPoint: string) => aBackupCreatedData({ recoveryPoint });
const passed = (b: ReturnType<typeof backup>, locations = b.copies.map((c) => c.location)) =>
  anIntegrityVerifiedData({
    backupId: b.backupId,
    copies: b.copies.map((c) => ({
      location: c.location,
      uri: c.uri,
      readable: true,
      sizeMatch: true,
      hashMatch: locations.includes(c.location),
      actualSha256: c.sha256,
      durationMs: 5,
      mbPerSec: 100,
      error: null,
    })),
  });

describe('evolveResourceState', () => {
  beforeEach(() => (index = 0));

  it('given a backup and its passed verdict, the recovery point is verified and 3-2-1 judged on passed copies', () => {
    const b = backup('2026-11-26T09:55:00.000Z');
    const state = fold([entry('BackupCreated', b), entry('IntegrityVerified', passed(b))]);
    expect(state.lastBackup?.backupId).toBe(b.backupId);
    expect(state.lastVerified).toMatchObject({ backupId: b.backupId, recoveryPoint: b.recoveryPoint, restoreMs: 1200 });
    expect(state.lastVerified?.threeTwoOne).toEqual({ copies: 3, media: 2, sites: 2, compliant: true });
    expect(state.awaitingVerdict).toEqual([expect.objectContaining({ backupId: b.backupId })]);
    expect(state.counts).toMatchObject({ backupsTaken: 1, verificationsPassed: 1 });
  });

  it('folds a state stored before awaitingVerdict was a list (an object keyed by backup id)', () => {
    const b = backup('2026-11-26T09:55:00.000Z');
    const created = fold([entry('BackupCreated', b)]);
    const stored = { ...created, awaitingVerdict: { [b.backupId]: { recoveryPoint: b.recoveryPoint, copies: created.awaitingVerdict[0]!.copies } } } as unknown as ResourceState;
    const state = evolveResourceState(stored, entry('IntegrityVerified', passed(b)));
    expect(state.lastVerified).toMatchObject({ backupId: b.backupId, recoveryPoint: b.recoveryPoint });
    expect(state.awaitingVerdict).toEqual([expect.objectContaining({ backupId: b.backupId })]);
  });

  it('keeps only the 32 newest backups awaiting a verdict, oldest dropped first', () => {
    const backups = Array.from({ length: 40 }, (_, i) => backup(new Date(Date.parse('2026-11-26T09:00:00.000Z') + i * 60_000).toISOString()));
    const state = fold(backups.map((b) => entry('BackupCreated', b)));
    expect(state.awaitingVerdict.map((a) => a.backupId)).toEqual(backups.slice(8).map((b) => b.backupId));
  });

  it('judges 3-2-1 only on the copies whose hash matched', () => {
    const b = backup('2026-11-26T09:55:00.000Z');
    const state = fold([entry('BackupCreated', b), entry('IntegrityVerified', passed(b, ['local-disk', 'nas']))]);
    expect(state.lastVerified?.threeTwoOne).toEqual({ copies: 2, media: 1, sites: 1, compliant: false });
  });

  it('does not move the verified recovery point on a failed verdict', () => {
    const b = backup('2026-11-26T09:55:00.000Z');
    const state = fold([entry('BackupCreated', b), entry('IntegrityVerified', { ...passed(b), verdict: 'failed', reasons: ['nas: hash mismatch'] })]);
    expect(state.lastVerified).toBeNull();
    expect(state.lastVerdict).toMatchObject({ verdict: 'failed', reasons: ['nas: hash mismatch'] });
    expect(state.counts.verificationsFailed).toBe(1);
  });

  it('records an RPO breach when verified recovery points are further apart than the target', () => {
    const a = backup('2026-11-26T09:00:00.000Z');
    const b = backup('2026-11-26T09:20:00.000Z');
    const state = fold([entry('BackupCreated', a), entry('IntegrityVerified', passed(a)), entry('BackupCreated', b), entry('IntegrityVerified', passed(b))]);
    expect(state.sloBreaches).toEqual([expect.objectContaining({ kind: 'rpo', valueMs: 20 * 60_000, targetMs: 5 * 60_000 })]);
  });

  it('records failovers with their RTO, downtime, and an RTO breach over the target', () => {
    const fast = aFailoverCompletedData();
    const slow = aFailoverCompletedData({ rtoMs: 45_000 });
    const state = fold([entry('FailoverCompleted', fast), entry('FailoverCompleted', slow)]);
    expect(state.failovers.map((f) => f.rtoMs)).toEqual([2100, 45_000]);
    expect(state.downtimeMs).toBe(2 * 2100); // first failure → routed, from each timeline
    expect(state.sloBreaches).toEqual([expect.objectContaining({ kind: 'rto', valueMs: 45_000 })]);
  });

  it('names the old primary of a v2 FailoverCompleted, and says "not stated" for one upcast from v1', () => {
    const v2 = aFailoverCompletedData({ fromInstance: 'pg-a' });
    const v1 = { ...aFailoverCompletedData(), planned: null, fromInstance: null, decidedBy: null };
    const state = fold([entry('FailoverCompleted', v2), entry('FailoverCompleted', v1)]);
    expect(state.failovers.map((f) => f.from)).toEqual(['pg-a', null]);
  });

  it('closes the outage a switchover opened when it is abandoned, counting the time until then', () => {
    const triggered = aFailoverTriggeredData({ planned: true, firstFailureAt: null, detectedAt: '2026-11-26T09:00:00.000Z', toInstance: 'pg-b' });
    const opened = fold([entry('FailoverTriggered', triggered)]);
    expect(opened.openOutage).toEqual({ failoverId: triggered.failoverId, since: '2026-11-26T09:00:00.000Z' });
    const state = evolveResourceState(opened, entry('FailoverAbandoned', aFailoverAbandonedData({ failoverId: triggered.failoverId, planned: true, at: '2026-11-26T09:00:30.000Z' })));
    expect(state.openOutage).toBeNull();
    expect(state.downtimeMs).toBe(30_000);
    expect(state.counts.failovers).toBe(0);
  });

  it('keeps the outage open when an unplanned failover is abandoned (the primary is still down), or another attempt is', () => {
    const triggered = aFailoverTriggeredData();
    const opened = fold([entry('FailoverTriggered', triggered)]);
    const failedPromotion = evolveResourceState(opened, entry('FailoverAbandoned', aFailoverAbandonedData({ failoverId: triggered.failoverId, planned: false })));
    expect(failedPromotion.openOutage).toEqual(opened.openOutage);
    expect(failedPromotion.downtimeMs).toBe(0);
    const other = evolveResourceState(opened, entry('FailoverAbandoned', aFailoverAbandonedData({ planned: true })));
    expect(other.openOutage).toEqual(opened.openOutage);
  });

  it('is idempotent when the same entry is delivered twice', () => {
    const b = backup('2026-11-26T09:55:00.000Z');
    const e = entry('BackupCreated', b);
    const once = evolveResourceState(null, e);
    expect(evolveResourceState(once, e)).toBe(once);
  });

  it('is deterministic: the same entries give the same state', () => {
    const b = backup('2026-11-26T09:55:00.000Z');
    const entries = [entry('BackupCreated', b), entry('IntegrityVerified', passed(b)), entry('FailoverCompleted', aFailoverCompletedData())];
    expect(fold(entries)).toEqual(fold(entries));
  });
});

describe('assessAt', () => {
  it('measures RPO exposure and availability at the moment asked', () => {
    const b = backup('2026-11-26T09:55:00.000Z');
    index = 0;
    const state = fold([
      { ...entry('BackupCreated', b), recordedAt: '2026-11-26T09:00:00.000Z' },
      entry('IntegrityVerified', passed(b)),
      entry('FailoverCompleted', aFailoverCompletedData()),
    ]);
    const at = assessAt(state, new Date('2026-11-26T10:00:00.000Z'));
    expect(at.rpoExposureMs).toBe(5 * 60_000);
    expect(at.rpoBreached).toBe(false);
    expect(at.availability).toBeCloseTo(1 - 2100 / 3_600_000, 10);
    expect(at.availabilityBreached).toBe(true);
    expect(at.threeTwoOneCompliant).toBe(true);
  });

  it('counts an RPO with no verified backup as breached', () => {
    expect(assessAt(fold([entry('BackupCreated', backup('2026-11-26T09:55:00.000Z'))]), new Date()).rpoBreached).toBe(true);
  });
});

describe('threeTwoOneOf', () => {
  it('needs three copies, two media and another site', () => {
    const c = (site: string, medium: string) => ({ location: `${site}-${medium}`, site, medium });
    expect(threeTwoOneOf([c('a', 'disk'), c('a', 'disk'), c('b', 'object')]).compliant).toBe(true);
    expect(threeTwoOneOf([c('a', 'disk'), c('a', 'object'), c('a', 'object')], 'a').compliant).toBe(false);
    expect(threeTwoOneOf([c('a', 'disk'), c('b', 'disk'), c('c', 'disk')]).compliant).toBe(false);
  });
});
