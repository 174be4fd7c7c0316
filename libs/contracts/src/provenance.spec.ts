import { checkProvenance, mayPublish, parsePublishers, provenancePolicy, PublishersSyntaxError, serviceOwning } from './provenance.js';

describe('provenance policy', () => {
  const now = Date.parse('2026-11-26T09:00:00.000Z');
  const policy = provenancePolicy([{ name: 'billing', resources: ['billing-db'] }], 5 * 60_000);
  const event = (type: string, source: string, resource = 'orders-db', occurredAt = '2026-11-26T09:00:00.000Z') => ({ type, source, resource, occurredAt });

  it.each([
    ['BackupCreated', 'backup'],
    ['BackupFailed', 'backup'],
    ['BackupExpired', 'backup'],
    ['RestoreCompleted', 'backup'],
    ['WalArchived', 'backup'],
    ['DrillStarted', 'backup'],
    ['DrillStepRequested', 'backup'],
    ['DrillStepCompleted', 'backup'],
    ['DrillCompleted', 'backup'],
    ['FailoverRehearsed', 'failover'],
    ['WalGapDetected', 'backup'],
    ['WalExpired', 'backup'],
    ['RestorePointCreated', 'backup'],
    ['IntegrityVerified', 'verifier'],
    ['WalVerified', 'verifier'],
    ['FailoverTriggered', 'failover'],
    ['FailoverCompleted', 'failover'],
    ['FailoverAbandoned', 'failover'],
    ['SynchronousReplicationChanged', 'failover'],
    ['AuditCheckpointSigned', 'audit'],
    ['AuditSigningKeyChanged', 'audit'],
    ['SloBreached', 'audit'],
    ['SloRestored', 'audit'],
    ['RiskIdentified', 'audit'],
    ['RiskResolved', 'audit'],
    ['NotificationDelivered', 'audit'],
  ])('%s is published by %s alone', (type, owner) => {
    expect(serviceOwning(type)).toBe(owner);
    for (const source of ['backup', 'verifier', 'failover', 'audit']) {
      expect(checkProvenance(policy, event(type, source), now).trusted).toBe(source === owner);
    }
  });

  it('lets failover (a degraded member) and the verifier (a degraded WAL archive) publish ResourceDegraded, no one else', () => {
    expect(serviceOwning('ResourceDegraded')).toBe('failover');
    for (const source of ['backup', 'verifier', 'failover', 'audit']) {
      expect(checkProvenance(policy, event('ResourceDegraded', source), now).trusted).toBe(source === 'failover' || source === 'verifier');
    }
    expect(checkProvenance(policy, event('ResourceDegraded', 'billing', 'billing-db'), now)).toMatchObject({ trusted: false, reason: expect.stringContaining('published by failover or verifier') });
  });

  it('refuses a forged IntegrityVerified from backup as unauthorized, naming who may publish it', () => {
    expect(checkProvenance(policy, event('IntegrityVerified', 'backup'), now)).toEqual({
      trusted: false,
      kind: 'unauthorized-source',
      reason: 'source "backup" may not publish IntegrityVerified for orders-db; it is published by verifier',
    });
  });

  it('lets an external publisher publish BackupCreated for its own resources only, and nothing else', () => {
    expect(checkProvenance(policy, event('BackupCreated', 'billing', 'billing-db'), now)).toEqual({ trusted: true });
    expect(checkProvenance(policy, event('BackupCreated', 'billing', 'orders-db'), now)).toMatchObject({ trusted: false, kind: 'unauthorized-source' });
    expect(checkProvenance(policy, event('IntegrityVerified', 'billing', 'billing-db'), now)).toMatchObject({ trusted: false, kind: 'unauthorized-source' });
    expect(checkProvenance(policy, event('BackupExpired', 'billing', 'billing-db'), now)).toMatchObject({ trusted: false });
  });

  it('names a source nobody configured unknown', () => {
    expect(checkProvenance(policy, event('BackupCreated', 'mallory', 'billing-db'), now)).toMatchObject({
      trusted: false,
      kind: 'unknown-source',
      reason: expect.stringContaining('published by backup or billing'),
    });
  });

  it('lets services and operators publish DeadLetterReplayed, not external publishers', () => {
    for (const source of ['backup', 'audit', 'continuity-dlq', 'admin']) expect(mayPublish(policy, source, 'DeadLetterReplayed', 'x')).toBe(true);
    expect(mayPublish(policy, 'billing', 'DeadLetterReplayed', 'billing-db')).toBe(false);
  });

  it('nobody publishes a type no service owns', () => {
    expect(checkProvenance(policy, event('SomethingNew', 'backup'), now)).toMatchObject({ trusted: false, reason: expect.stringContaining('published by nobody') });
  });

  it('refuses occurredAt beyond the skew into the future, accepts it within', () => {
    expect(checkProvenance(policy, event('FailoverTriggered', 'failover', 'orders-db', '2026-11-26T09:04:59.000Z'), now)).toEqual({ trusted: true });
    expect(checkProvenance(policy, event('FailoverTriggered', 'failover', 'orders-db', '2027-11-26T09:00:00.000Z'), now)).toMatchObject({
      trusted: false,
      kind: 'future-dated',
      reason: expect.stringContaining('EVENT_MAX_FUTURE_SKEW_MS=300000'),
    });
    // The past is fine: late delivery, replays and backfills are normal.
    expect(checkProvenance(policy, event('FailoverTriggered', 'failover', 'orders-db', '2020-01-01T00:00:00.000Z'), now)).toEqual({ trusted: true });
  });

  describe('CONTINUITY_PUBLISHERS', () => {
    it('parses name=resource,… lists separated by ;', () => {
      expect(parsePublishers(' billing=billing-db, billing-archive ; crm=crm-db')).toEqual([
        { name: 'billing', resources: ['billing-db', 'billing-archive'] },
        { name: 'crm', resources: ['crm-db'] },
      ]);
      expect(parsePublishers('')).toEqual([]);
    });

    it.each([
      ['backup=orders-db', 'reserved'],
      ['admin=orders-db', 'reserved'],
      ['billing', 'lists no resources'],
      ['Billing=x', 'must be lowercase'],
      ['billing=bad.resource', 'not a valid resource'],
      ['billing=a;billing=b', 'listed twice'],
    ])('refuses %s (%s)', (value, message) => {
      expect(() => parsePublishers(value)).toThrow(PublishersSyntaxError);
      expect(() => parsePublishers(value)).toThrow(message);
    });
  });
});
