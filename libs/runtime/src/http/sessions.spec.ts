import { cookieValue, Sessions } from './sessions.js';

describe('browser sessions', () => {
  it('opens a random session for a caller and forgets it at expiry', () => {
    const sessions = new Sessions({ ttlMs: 1_000 });
    const id = sessions.open({ name: 'alice', role: 'viewer' }, 0);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sessions.open({ name: 'alice', role: 'viewer' }, 0)).not.toBe(id);
    expect(sessions.caller(id, 999)).toEqual({ name: 'alice', role: 'viewer' });
    expect(sessions.caller(id, 1_000)).toBeNull();
    expect(sessions.size).toBe(1); // the expired one was dropped when asked for
  });

  it('refuses unknown and malformed ids, and closed sessions', () => {
    const sessions = new Sessions({ ttlMs: 60_000 });
    const id = sessions.open({ name: 'bob', role: 'auditor' }, 0);
    expect(sessions.caller(undefined, 1)).toBeNull();
    expect(sessions.caller('x'.repeat(43), 1)).toBeNull();
    expect(sessions.caller(`${id};`, 1)).toBeNull();
    sessions.close(id);
    expect(sessions.caller(id, 1)).toBeNull();
  });

  it('keeps at most `max` sessions, dropping the oldest', () => {
    const sessions = new Sessions({ ttlMs: 60_000, max: 2 });
    const first = sessions.open({ name: 'a', role: 'viewer' }, 0);
    sessions.open({ name: 'b', role: 'viewer' }, 0);
    sessions.open({ name: 'c', role: 'viewer' }, 0);
    expect(sessions.size).toBe(2);
    expect(sessions.caller(first, 1)).toBeNull();
  });

  it('reads one cookie out of a Cookie header', () => {
    expect(cookieValue('a=1; continuity_session=abc; b=2', 'continuity_session')).toBe('abc');
    expect(cookieValue('xcontinuity_session=abc', 'continuity_session')).toBeUndefined();
    expect(cookieValue(undefined, 'continuity_session')).toBeUndefined();
  });
});
