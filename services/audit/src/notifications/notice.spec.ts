import { v7 as uuidv7 } from 'uuid';
import { aBackupFailedData, aFailoverAbandonedData, aFailoverCompletedData, aFailoverTriggeredData } from '@continuity/contracts/testing';
import { globMatches } from './glob.js';
import { field, NotifiableEvent, noticeOf } from './notice.js';

/** Hand-built envelopes: SloBreached, RiskIdentified and DrillCompleted have no schema in this build yet. */
const envelope = (type: string, data: unknown, resource = 'orders-db'): NotifiableEvent => ({ id: uuidv7(), type, resource, occurredAt: '2026-12-01T00:00:00.000Z', data });

describe('noticeOf (what people hear about)', () => {
  it('notifies an SLO breach with its objective as the de-duplication key', () => {
    const notice = noticeOf(envelope('SloBreached', { objective: 'rpo', measured: 420000, targetMs: 300000, reason: 'no verified backup for 7 minutes' }));
    expect(notice).toMatchObject({ type: 'SloBreached', severity: 'high', key: 'rpo', detail: 'no verified backup for 7 minutes' });
    expect(notice!.title).toBe('orders-db: rpo target breached (420000 against a target of 300000)');
  });

  it('notifies risks of high severity and above only, with the mitigation', () => {
    expect(noticeOf(envelope('RiskIdentified', { rule: 'single-site', severity: 'medium' }))).toBeNull();
    expect(noticeOf(envelope('RiskIdentified', { rule: 'single-site', severity: 'low' }))).toBeNull();
    expect(noticeOf(envelope('RiskIdentified', { rule: 'single-site' }))).toBeNull(); // no severity: not assumed high
    const notice = noticeOf(envelope('RiskIdentified', { rule: 'single-site', severity: 'critical', mitigation: 'add an off-site location' }));
    expect(notice).toMatchObject({ severity: 'critical', key: 'single-site', detail: 'Mitigation: add an off-site location' });
    expect(noticeOf(envelope('RiskIdentified', { ruleId: 'no-drill', severity: 'HIGH' }))).toMatchObject({ severity: 'high', key: 'no-drill' });
  });

  it('notifies failed drills only, naming the failed step', () => {
    const drillId = uuidv7();
    expect(noticeOf(envelope('DrillCompleted', { drillId, outcome: 'passed' }))).toBeNull();
    expect(noticeOf(envelope('DrillCompleted', { drillId }))).toBeNull();
    const notice = noticeOf(envelope('DrillCompleted', { drillId, outcome: 'failed', failedStep: 'restore', reason: 'scratch target unreachable' }));
    expect(notice).toMatchObject({ severity: 'high', key: drillId, title: 'orders-db: recovery drill failed at restore', detail: 'scratch target unreachable' });
    expect(noticeOf(envelope('DrillCompleted', { drillId, status: 'failed' }))).not.toBeNull();
  });

  it('notifies failovers (critical unless planned), their completion and abandonment, keyed by failoverId', () => {
    const failover = aFailoverTriggeredData({ planned: false });
    expect(noticeOf(envelope('FailoverTriggered', failover))).toMatchObject({ severity: 'critical', key: failover.failoverId, title: 'orders-db: failover from pg-a to pg-b started' });
    expect(noticeOf(envelope('FailoverTriggered', aFailoverTriggeredData({ planned: true })))).toMatchObject({ severity: 'info' });
    const completed = aFailoverCompletedData();
    expect(noticeOf(envelope('FailoverCompleted', completed))!.title).toContain(`${completed.newPrimary} is primary (RTO ${completed.rtoMs} ms)`);
    expect(noticeOf(envelope('FailoverAbandoned', aFailoverAbandonedData()))).toMatchObject({ severity: 'critical' });
  });

  it('notifies failed backups keyed by stage, so repeated failures at one stage are one piece of news', () => {
    const a = noticeOf(envelope('BackupFailed', aBackupFailedData({ stage: 'copy' })))!;
    const b = noticeOf(envelope('BackupFailed', aBackupFailedData({ stage: 'copy' })))!;
    expect(a.key).toBe(b.key);
    expect(a.eventId).not.toBe(b.eventId);
    expect(noticeOf(envelope('BackupFailed', aBackupFailedData({ stage: 'source' })))!.key).not.toBe(a.key);
  });

  it('ignores every other type, and data of any shape', () => {
    for (const type of ['BackupCreated', 'IntegrityVerified', 'NotificationDelivered', 'SloRestored', 'RiskResolved']) expect(noticeOf(envelope(type, {}))).toBeNull();
    expect(noticeOf(envelope('SloBreached', null))).toMatchObject({ key: 'slo', detail: null });
    expect(noticeOf(envelope('FailoverAbandoned', 'nonsense'))).toMatchObject({ key: expect.any(String) });
  });

  it('reads fields generically and bounded', () => {
    expect(field({ a: 1, b: 'x' }, 'a')).toBe('1');
    expect(field({ a: '', b: 'x' }, 'a', 'b')).toBe('x');
    expect(field({ a: { nested: true } }, 'a')).toBeNull();
    expect(field({ a: 'y'.repeat(5000) }, 'a')).toHaveLength(1000);
  });
});

describe('globMatches', () => {
  it.each([
    ['orders-*', 'orders-db', true],
    ['orders-*', 'orders-', true],
    ['orders-*', 'billing-db', false],
    ['*', 'anything', true],
    ['*-db', 'orders-db', true],
    ['*-db', 'orders-dbx', false],
    ['db-?', 'db-1', true],
    ['db-?', 'db-12', false],
    ['orders-db', 'orders-db', true],
    ['orders-db', 'orders-db2', false],
    ['*a*b*', 'xxaxxbxx', true],
  ])('%s ~ %s → %s', (glob, name, expected) => expect(globMatches(glob, name)).toBe(expected));

  it('stays fast on adversarial globs', () => {
    const started = Date.now();
    expect(globMatches('*a*a*a*a*a*a*a*a*b', 'a'.repeat(128))).toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
