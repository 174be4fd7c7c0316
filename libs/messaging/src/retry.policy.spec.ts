import { decideOnFailure, DEFAULT_RETRY_POLICY, validateRetryPolicy } from './retry.policy.js';

describe('decideOnFailure', () => {
  const policy = { maxDeliver: 4, initialDelayMs: 100, maxDelayMs: 250 };

  it('retries with a growing delay, capped', () => {
    expect([1, 2, 3].map((n) => decideOnFailure(policy, n, new Error('x')))).toEqual([
      { action: 'retry', delayMs: 100 },
      { action: 'retry', delayMs: 200 },
      { action: 'retry', delayMs: 250 },
    ]);
  });

  it('dead-letters on the last delivery, with the reason', () => {
    expect(decideOnFailure(policy, 4, new TypeError('db down'))).toEqual({
      action: 'dead-letter',
      reason: 'handler failed on all 4 deliveries: TypeError: db down',
    });
    expect(decideOnFailure(policy, 9, 'boom')).toMatchObject({ action: 'dead-letter' });
  });

  it('rejects nonsensical policies', () => {
    expect(() => validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, maxDeliver: 0 })).toThrow('maxDeliver');
    expect(() => validateRetryPolicy({ ...DEFAULT_RETRY_POLICY, initialDelayMs: 10, maxDelayMs: 5 })).toThrow('delays');
  });
});
