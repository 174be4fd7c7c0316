import { parseSchedule } from './schedule.js';

describe('schedules', () => {
  it('reads intervals', () => {
    expect(parseSchedule('every 15m')).toEqual({ ok: true, schedule: { kind: 'interval', everyMs: 900_000, text: 'every 15m' } });
    expect(parseSchedule('1h30m')).toEqual({ ok: true, schedule: { kind: 'interval', everyMs: 5_400_000, text: '1h30m' } });
  });

  it('reads cron expressions, with or without seconds', () => {
    expect(parseSchedule('0 2 * * *')).toEqual({ ok: true, schedule: { kind: 'cron', expression: '0 2 * * *' } });
    expect(parseSchedule('*/2 * * * * *')).toEqual({ ok: true, schedule: { kind: 'cron', expression: '*/2 * * * * *' } });
  });

  it('allows intervals down to one second', () => {
    expect(parseSchedule('every 2s')).toEqual({ ok: true, schedule: { kind: 'interval', everyMs: 2_000, text: 'every 2s' } });
    expect(parseSchedule('every 0s')).toEqual({ ok: false, error: 'interval "every 0s" must be at least 1s' });
  });

  it('explains what it could not read', () => {
    const parsed = parseSchedule('nightly');
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toMatch(/^"nightly" is neither a cron expression \(e\.g\. "0 2 \* \* \*"\) nor an interval/);
  });
});
