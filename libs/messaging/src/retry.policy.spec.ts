import { decideBeforeHandling, decideOnFailure, DEFAULT_RETRY_POLICY, validateRetryPolicy } from './retry.policy.js';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('decideOnFailure', () => {
  const policy = { maxDeliver: 4, initialDelayMs: 100, maxDelayMs: 250, poisonDeliveries: 8 };

  it('retries an unknown failure with a growing delay, capped', () => {
    expect([1, 2, 3].map((n) => decideOnFailure(policy, n, new Error('x')))).toEqual([
      { action: 'retry', delayMs: 100 },
      { action: 'retry', delayMs: 200 },
      { action: 'retry', delayMs: 250 },
    ]);
  });

  it('dead-letters an unknown failure on the last delivery, with the reason', () => {
    expect(decideOnFailure(policy, 4, new TypeError('db down'))).toEqual({
      action: 'dead-letter',
      reason: 'handler failed on all 4 deliveries: TypeError: db down',
    });
    expect(decideOnFailure(policy, 9, 'boom')).toMatchObject({ action: 'dead-letter' });
  });

  it('never dead-letters a dependency outage, however many deliveries or attempts: it waits, backing off with jitter', () => {
    const decisions = [1, 2, 3, 50].map((attempt) => decideOnFailure(policy, 1_000, refused(), attempt, () => 0.5));
    expect(decisions.map((d) => d.action)).toEqual(['wait', 'wait', 'wait', 'wait']);
    expect(decisions.map((d) => (d.action === 'wait' ? d.delayMs : 0))).toEqual([75, 150, 188, 188]);
    expect(decisions[0]).toMatchObject({ dependency: 'postgres', reason: 'connect ECONNREFUSED 127.0.0.1:5432' });
    // Half the delay is fixed, half random: many instances do not retry in step.
    const spread = [0, 0.999].map((r) => decideOnFailure(policy, 1, refused(), 3, () => r));
    expect(spread.map((d) => (d.action === 'wait' ? d.delayMs : 0))).toEqual([125, 250]);
  });

  it('dead-letters a permanent failure on its first delivery', () => {
    const constraint = Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505', severity: 'ERROR' });
    expect(decideOnFailure(policy, 1, constraint)).toEqual({
      action: 'dead-letter',
      reason: 'permanent failure (a redelivery cannot fix it): duplicate key value violates unique constraint (SQLSTATE 23505)',
    });
  });
});

describe('decideBeforeHandling', () => {
  it('dead-letters a message delivered more often than poisonDeliveries before running it again (it crashed the process)', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, poisonDeliveries: 10 };
    expect(decideBeforeHandling(policy, 10)).toBeNull();
    expect(decideBeforeHandling(policy, 11)).toEqual({
      action: 'dead-letter',
      reason: 'delivered 11 times without an outcome (it may crash or stall the process); not run again',
    });
  });
});

describe('validateRetryPolicy', () => {
  it('rejects nonsensical policies', () => {
    expect(() => validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, maxDeliver: 0 })).toThrow('maxDeliver');
    expect(() => validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, initialDelayMs: 10, maxDelayMs: 5 })).toThrow('delays');
    expect(() => validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, maxDeliver: 12, poisonDeliveries: 10 })).toThrow('poisonDeliveries');
  });
});
