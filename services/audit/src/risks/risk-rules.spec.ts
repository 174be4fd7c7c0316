import { aFailoverTriggeredData, aResourceDegradedData, aRestorePerformedData, aSynchronousReplicationChangedData } from '@continuity/contracts/testing';
import { at, atDate, baseBackup, dump, entry, fold, resetLog, verdict, verifiedBackup, walShipment } from '../../test/findings-fixtures.js';
import { DEFAULT_SLO_TARGETS, ResourceState } from '../resource-state/resource-state.projection.js';
import { evaluateRisks, nextRiskChange, RISK_RULES, RiskPolicy } from './risk-rules.js';

const DAY = 1440; // minutes
const policy: RiskPolicy = { targets: { ...DEFAULT_SLO_TARGETS, rpoMs: 5 * 60_000, rtoMs: 30_000 }, scrubPeriodMs: 7 * DAY * 60_000, drillMaxAgeMs: 30 * DAY * 60_000, standbyLagLimitBytes: 1_000 };
const findings = (state: ResourceState, minute: number) => evaluateRisks(state, atDate(minute), policy);
const rule = (state: ResourceState, minute: number, id: string) => findings(state, minute).find((f) => f.rule === id);
// DrillCompleted is another slice's event (not in this build's registry): folded only if present, read defensively.
const drill = (passed: boolean, minute: number) => {
  const e = entry('DeadLetterReplayed', {}, minute);
  return { ...e, event: { ...e.event, type: 'DrillCompleted', source: 'drills', data: { outcome: passed ? 'passed' : 'failed' } } } as typeof e;
};
const oneSite = (minute: number) => dump(minute, { copies: dump(0).copies.map((c) => ({ ...c, site: 'eu-west-1a' })) });
const oneMedium = (minute: number) => dump(minute, { copies: dump(0).copies.map((c) => ({ ...c, medium: 'disk' })) });

describe('risk rules', () => {
  beforeEach(resetLog);

  it('every rule has a unique id and a description', () => {
    expect(new Set(RISK_RULES.map((r) => r.id)).size).toBe(RISK_RULES.length);
    for (const r of RISK_RULES) expect(r.describes.length).toBeGreaterThan(10);
  });

  it('no-verified-recovery-point: raised when none is verified or the newest is older than the RPO target; cleared by a fresh one', () => {
    const unverified = fold([entry('BackupCreated', dump(0), 0)]);
    expect(rule(unverified, 1, 'no-verified-recovery-point')).toMatchObject({ severity: 'critical', evidence: [unverified.protection!.retained[0]!.eventId] });
    const stale = fold(verifiedBackup(dump(0), 0));
    expect(rule(stale, 10, 'no-verified-recovery-point')).toMatchObject({ severity: 'high', evidence: expect.arrayContaining([stale.protection!.verifiedEventId]) });
    expect(rule(fold(verifiedBackup(dump(8), 8), stale), 10, 'no-verified-recovery-point')).toBeUndefined();
  });

  it('restore-over-rto: raised by a restore test or a restore slower than the RTO target; cleared by a fast one', () => {
    const b = dump(0);
    const slow = fold([entry('BackupCreated', b, 0), entry('IntegrityVerified', verdict(b, [], { restoreTest: { status: 'passed', durationMs: 45_000, checks: [] } }), 1)]);
    expect(rule(slow, 2, 'restore-over-rto')).toMatchObject({ severity: 'high', evidence: [slow.protection!.verifiedEventId] });
    const b2 = dump(3);
    const fast = fold([entry('BackupCreated', b2, 3), entry('IntegrityVerified', verdict(b2), 4)], slow);
    expect(rule(fast, 5, 'restore-over-rto')).toBeUndefined();
    const restored = fold([entry('RestorePerformed', aRestorePerformedData({ outcome: 'restored', startedAt: at(5), finishedAt: at(6) }), 6)], fast);
    expect(rule(restored, 7, 'restore-over-rto')?.summary).toContain('60.0 s');
  });

  it('copies-one-site: raised when every good copy is on one site; cleared by a backup with an off-site copy', () => {
    const state = fold(verifiedBackup(oneSite(0), 0));
    expect(rule(state, 2, 'copies-one-site')).toMatchObject({ severity: 'high', evidence: [state.protection!.verifiedEventId] });
    expect(rule(fold(verifiedBackup(dump(2), 2), state), 4, 'copies-one-site')).toBeUndefined();
  });

  it('copies-one-medium: raised when every good copy is on one medium; cleared by a backup on two media', () => {
    const state = fold(verifiedBackup(oneMedium(0), 0));
    expect(rule(state, 2, 'copies-one-medium')?.summary).toContain('medium disk');
    expect(rule(fold(verifiedBackup(dump(2), 2), state), 4, 'copies-one-medium')).toBeUndefined();
  });

  it('three-two-one-lost: raised by a failed scrub of a copy, with the scrub as evidence; cleared by a new compliant backup', () => {
    const b = dump(0);
    const verified = fold(verifiedBackup(b, 0));
    expect(rule(verified, 2, 'three-two-one-lost')).toBeUndefined();
    const scrub = entry('IntegrityVerified', verdict(b, ['offsite'], { trigger: 'scrub' }), 3);
    const lost = fold([scrub], verified);
    expect(rule(lost, 4, 'three-two-one-lost')).toMatchObject({ severity: 'critical', evidence: expect.arrayContaining([scrub.event.id]) });
    expect(rule(fold(verifiedBackup(dump(4), 4), lost), 6, 'three-two-one-lost')).toBeUndefined();
  });

  it('scrub-coverage: raised when a retained backup older than the period had no verdict in it; cleared by a scrub', () => {
    const b = dump(0);
    const state = fold(verifiedBackup(b, 0));
    expect(rule(state, 6 * DAY, 'scrub-coverage')).toBeUndefined(); // not due yet
    expect(rule(state, 8 * DAY, 'scrub-coverage')).toMatchObject({ severity: 'medium', evidence: [state.protection!.retained[0]!.eventId] });
    expect(rule(state, 8 * DAY, 'scrub-coverage')?.summary).toContain('coverage 0 %');
    const scrubbed = fold([entry('IntegrityVerified', verdict(b, [], { trigger: 'scrub' }), 8 * DAY - 10)], state);
    expect(rule(scrubbed, 8 * DAY, 'scrub-coverage')).toBeUndefined();
  });

  it('drill-overdue: "never drilled" without drills, raised by a failed or old drill; cleared by a recent passed one', () => {
    const state = fold(verifiedBackup(dump(0), 0));
    expect(rule(state, 2, 'drill-overdue')?.summary).toContain('never drilled');
    const failed = fold([drill(false, 3)], state);
    expect(rule(failed, 4, 'drill-overdue')).toMatchObject({ severity: 'high', evidence: [failed.protection!.lastDrill!.eventId] });
    const passed = fold([drill(true, 5)], failed);
    expect(rule(passed, 6, 'drill-overdue')).toBeUndefined();
    expect(rule(passed, 31 * DAY, 'drill-overdue')?.summary).toContain('old');
  });

  it('no-standby: raised when no standby could be promoted; cleared when one is eligible again', () => {
    const none = fold([entry('SynchronousReplicationChanged', aSynchronousReplicationChangedData(), 0)]);
    expect(rule(none, 1, 'no-standby')).toMatchObject({ severity: 'high', evidence: [none.protection!.standby!.eventId] });
    const back = fold([entry('SynchronousReplicationChanged', aSynchronousReplicationChangedData({ mode: 'synchronous', synchronousStandby: 'pg-b', standbys: [{ member: 'pg-b', streaming: true, eligible: true, reason: 'streaming' }] }), 2)], none);
    expect(rule(back, 3, 'no-standby')).toBeUndefined();
  });

  it('standby-lag: raised when a standby lags above the limit; cleared when it catches up', () => {
    const lagging = fold([entry('FailoverTriggered', aFailoverTriggeredData({ candidates: [{ instance: 'pg-b', lsn: '0/3000060', lagBytes: 5_000, eligible: true, reason: null }] }), 0)]);
    expect(rule(lagging, 1, 'standby-lag')?.summary).toContain('5000 bytes');
    const caught = fold([entry('FailoverTriggered', aFailoverTriggeredData({ candidates: [{ instance: 'pg-b', lsn: '0/3000060', lagBytes: 10, eligible: true, reason: null }] }), 2)], lagging);
    expect(rule(caught, 3, 'standby-lag')).toBeUndefined();
  });

  it('wal-archive-gap: raised by a gap in the shipped chain or a ResourceDegraded naming one; cleared by a new base backup', () => {
    const base = baseBackup(0);
    const gapped = fold([...verifiedBackup(base, 0), entry('WalArchived', walShipment(2, 1), 2), entry('WalArchived', walShipment(4, 5), 4)]);
    expect(rule(gapped, 5, 'wal-archive-gap')).toMatchObject({ severity: 'high', evidence: [gapped.protection!.walGap!.eventId] });
    expect(rule(fold([entry('BackupCreated', baseBackup(6), 6)], gapped), 7, 'wal-archive-gap')).toBeUndefined();
    const degraded = fold([entry('ResourceDegraded', aResourceDegradedData({ reason: 'WAL gap: slot lost' }), 1)]);
    expect(rule(degraded, 2, 'wal-archive-gap')).toBeDefined();
  });

  it('a resource with nothing to protect (no backup or replication facts) is not judged', () => {
    expect(findings(fold([entry('DeadLetterReplayed', { ...({} as any) }, 0)]), 1)).toEqual([]);
  });
});

describe('when the clock can change the findings', () => {
  beforeEach(resetLog);

  const firing = (state: ResourceState, t: number) =>
    evaluateRisks(state, new Date(t), policy)
      .map((f) => f.rule)
      .join(',');
  /** Stories whose findings move with the clock: an RPO target, a scrub period, a drill period to cross. */
  const stories = () => {
    const verified = fold(verifiedBackup(dump(0), 0));
    const drilled = fold([drill(true, 2)], verified);
    const scrubbed = fold([entry('IntegrityVerified', verdict(dump(0), [], { trigger: 'scrub' }), 3 * DAY)], fold([entry('BackupCreated', dump(0), 0), entry('BackupCreated', dump(DAY), DAY)]));
    return { verified, drilled, scrubbed, unverified: fold([entry('BackupCreated', dump(0), 0)]), replicated: fold([entry('SynchronousReplicationChanged', aSynchronousReplicationChangedData(), 0)]) };
  };

  it('no rule finds anything new or stops finding it before the moment it names, and each named moment changes something', () => {
    for (const [name, state] of Object.entries(stories())) {
      let minute = 1;
      // Walk from moment to moment over 60 days: before each, nothing changes (sampled); at it, something does.
      for (let step = 0; step < 10; step++) {
        const now = atDate(minute).getTime();
        const next = nextRiskChange(state, atDate(minute), policy);
        const end = next ?? now + 60 * DAY * 60_000;
        const before = firing(state, now);
        for (let k = 0; k <= 300; k++) expect(`${name}@${k}: ${firing(state, now + Math.floor(((end - 1 - now) * k) / 300))}`).toBe(`${name}@${k}: ${before}`);
        if (next === null) break;
        expect(`${name}: ${firing(state, next)}`).not.toBe(`${name}: ${before}`);
        minute = (next - atDate(0).getTime()) / 60_000;
      }
    }
  });

  it('names the crossings exactly: the RPO target, then the scrub period, then the drill period', () => {
    const { drilled } = stories();
    expect(nextRiskChange(drilled, atDate(3), policy)).toBe(atDate(5).getTime() + 1);
    // The verdict at minute 1 read its copies: due for a scrub 7 days after that.
    expect(nextRiskChange(drilled, atDate(6), policy)).toBe(atDate(7 * DAY + 1).getTime() + 1);
    expect(nextRiskChange(drilled, atDate(8 * DAY), policy)).toBe(atDate(30 * DAY + 2).getTime() + 1);
    expect(nextRiskChange(drilled, atDate(31 * DAY), policy)).toBeNull();
  });

  it('a rule that reads no clock names no moment', () => {
    const { replicated } = stories();
    for (const r of RISK_RULES.filter((r) => !['no-verified-recovery-point', 'scrub-coverage', 'drill-overdue'].includes(r.id))) {
      expect(r.changesAt(replicated, replicated.protection!, atDate(1), policy)).toBeNull();
    }
  });
});
