import { nextRunAfter, parseSchedule } from './schedule.js';

describe('schedules', () => {
  it('reads intervals', () => {
    expect(parseSchedule('every 15m')).toEqual({ ok: true, schedule: { kind: 'interval', everyMs: 900_000, text: 'every 15m' } });
    expect(parseSchedule('1h30m')).toEqual({ ok: true, schedule: { kind: 'interval', everyMs: 5_400_000, text: '1h30m' } });
  });

  it('reads cron expressions and finds the next run in UTC', () => {
    const parsed = parseSchedule('0 2 * * *');
    if (!parsed.ok) throw new Error(parsed.error);
    expect(nextRunAfter(parsed.schedule, new Date('2026-11-26T09:00:00Z')).toISOString()).toBe('2026-11-27T02:00:00.000Z');
  });

  it('counts intervals from the anchor', () => {
    const parsed = parseSchedule('every 10m');
    if (!parsed.ok) throw new Error(parsed.error);
    const anchor = new Date('2026-11-26T09:00:00Z');
    expect(nextRunAfter(parsed.schedule, new Date('2026-11-26T09:25:00Z'), anchor).toISOString()).toBe('2026-11-26T09:30:00.000Z');
  });

  it('explains what it could not read', () => {
    const parsed = parseSchedule('nightly');
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toMatch(/^"nightly" is neither a cron expression \(e\.g\. "0 2 \* \* \*"\) nor an interval/);
  });
});
