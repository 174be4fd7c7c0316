import { FailedAttempts } from './failed-attempts.js';

describe('FailedAttempts', () => {
  it('blocks an address after max failures until its window ends, then forgets it', () => {
    const attempts = new FailedAttempts({ max: 3, windowMs: 60_000 });
    for (let i = 0; i < 2; i++) attempts.record('10.0.0.1', 1_000 + i);
    expect(attempts.retryAfterSeconds('10.0.0.1', 2_000)).toBe(0);
    attempts.record('10.0.0.1', 2_000);
    expect(attempts.retryAfterSeconds('10.0.0.1', 2_000)).toBe(59);
    expect(attempts.retryAfterSeconds('10.0.0.2', 2_000)).toBe(0);
    expect(attempts.retryAfterSeconds('10.0.0.1', 61_000)).toBe(0);
    expect(attempts.size).toBe(0);
  });

  it('starts a new window when the old one has passed', () => {
    const attempts = new FailedAttempts({ max: 2, windowMs: 1_000 });
    attempts.record('a', 0);
    attempts.record('a', 1_500);
    expect(attempts.retryAfterSeconds('a', 1_600)).toBe(0);
  });

  it('keeps at most `addresses` entries, forgetting the least recently failing first', () => {
    const attempts = new FailedAttempts({ max: 1, windowMs: 60_000, addresses: 2 });
    attempts.record('a', 0);
    attempts.record('b', 1);
    attempts.record('a', 2);
    attempts.record('c', 3);
    expect(attempts.size).toBe(2);
    expect(attempts.retryAfterSeconds('b', 4)).toBe(0);
    expect(attempts.retryAfterSeconds('a', 4)).toBeGreaterThan(0);
    expect(attempts.retryAfterSeconds('c', 4)).toBeGreaterThan(0);
  });
});
