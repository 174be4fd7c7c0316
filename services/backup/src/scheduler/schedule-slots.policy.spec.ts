import { parseSchedule, Schedule } from '../config/schedule.js';
import { currentSlot, decideSlot, nextSlot, slotsBetween } from './schedule-slots.policy.js';

const schedule = (text: string): Schedule => {
  const parsed = parseSchedule(text);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.schedule;
};
const at = (iso: string) => new Date(iso);
const iso = (d: Date | null) => d?.toISOString() ?? null;

/** Runs the ticks at `times` as one scheduler whose claims always win; returns the slots it ran. */
const ranAt = (s: Schedule, times: string[]) => {
  let handled: Date | null = null;
  const ran: string[] = [];
  for (const time of times) {
    const decision = decideSlot(s, at(time), handled);
    if (decision.action === 'claim') {
      ran.push(decision.slot.toISOString());
      handled = decision.slot;
    }
  }
  return ran;
};

describe('schedule slots', () => {
  describe('intervals are anchored to the Unix epoch, not to a process start', () => {
    it('given every 15m, when a process starts at 09:07:31, then the current slot is 09:00 and the next 09:15', () => {
      const s = schedule('every 15m');
      expect(iso(currentSlot(s, at('2026-11-26T09:07:31.250Z')))).toBe('2026-11-26T09:00:00.000Z');
      expect(iso(nextSlot(s, at('2026-11-26T09:07:31.250Z')))).toBe('2026-11-26T09:15:00.000Z');
    });

    it('given every 15m, when two processes started at different times look at the same instant, then they name the same slot', () => {
      const s = schedule('every 15m');
      // Nothing about a start time is an input: the slot depends only on the instant.
      expect(iso(currentSlot(s, at('2026-11-26T09:44:59.999Z')))).toBe('2026-11-26T09:30:00.000Z');
      expect(iso(currentSlot(s, at('2026-11-26T09:45:00.000Z')))).toBe('2026-11-26T09:45:00.000Z');
    });

    it('given every 7m (does not divide an hour), then slots are multiples of 7 minutes since 1970, crossing the hour', () => {
      const s = schedule('every 7m');
      const now = at('2026-11-26T09:00:00Z');
      expect(iso(currentSlot(s, now))).toBe('2026-11-26T08:59:00.000Z');
      expect(iso(nextSlot(s, now))).toBe('2026-11-26T09:06:00.000Z');
      expect(currentSlot(s, now)!.getTime() % 420_000).toBe(0);
    });

    it('given every 2s, when a process starts mid-interval, then it claims the slot it is in at once and the next on the boundary', () => {
      expect(ranAt(schedule('every 2s'), ['2026-11-26T09:00:01.300Z', '2026-11-26T09:00:01.900Z', '2026-11-26T09:00:02.000Z', '2026-11-26T09:00:03.999Z'])).toEqual([
        '2026-11-26T09:00:00.000Z',
        '2026-11-26T09:00:02.000Z',
      ]);
    });
  });

  describe('cron, in UTC', () => {
    it('given 0 2 * * *, then the current slot is today 02:00 and the next tomorrow 02:00', () => {
      const s = schedule('0 2 * * *');
      expect(iso(currentSlot(s, at('2026-11-26T09:00:00Z')))).toBe('2026-11-26T02:00:00.000Z');
      expect(iso(nextSlot(s, at('2026-11-26T09:00:00Z')))).toBe('2026-11-27T02:00:00.000Z');
    });

    it('given 0 2 * * *, when now is exactly 02:00:00.000 or a millisecond after, then that is the current slot', () => {
      const s = schedule('0 2 * * *');
      expect(iso(currentSlot(s, at('2026-11-26T02:00:00.000Z')))).toBe('2026-11-26T02:00:00.000Z');
      expect(iso(currentSlot(s, at('2026-11-26T02:00:00.001Z')))).toBe('2026-11-26T02:00:00.000Z');
      expect(iso(currentSlot(s, at('2026-11-26T01:59:59.999Z')))).toBe('2026-11-25T02:00:00.000Z');
    });

    it('given 30 1 * * * across the European DST change (29 March), then slots stay 01:30 UTC, 24 hours apart', () => {
      const s = schedule('30 1 * * *');
      expect(iso(currentSlot(s, at('2026-03-29T05:00:00Z')))).toBe('2026-03-29T01:30:00.000Z');
      expect(iso(nextSlot(s, at('2026-03-29T05:00:00Z')))).toBe('2026-03-30T01:30:00.000Z');
      expect(slotsBetween(s, at('2026-03-27T01:30:00Z'), at('2026-03-31T01:30:00Z'))).toBe(3);
    });

    it('given a 6-field cron with seconds, then slots fall on those seconds', () => {
      const s = schedule('*/2 * * * * *');
      expect(iso(currentSlot(s, at('2026-11-26T09:00:03.500Z')))).toBe('2026-11-26T09:00:02.000Z');
    });
  });

  describe('missed slots collapse into one run', () => {
    it('given every 15m ran 09:00, when every instance is down until 10:20 (5 slots fall in the outage), then the recovery runs only 10:15, once', () => {
      const s = schedule('every 15m');
      const ran = ranAt(s, ['2026-11-26T09:00:00Z', /* outage */ '2026-11-26T10:20:00Z', '2026-11-26T10:21:00Z', '2026-11-26T10:29:59Z']);
      expect(ran).toEqual(['2026-11-26T09:00:00.000Z', '2026-11-26T10:15:00.000Z']);
      expect(slotsBetween(s, at(ran[0]!), at(ran[1]!))).toBe(4);
    });

    it('given a daily cron down for 3 years, then the missed count stops at its cap', () => {
      expect(slotsBetween(schedule('0 2 * * *'), at('2023-11-26T02:00:00Z'), at('2026-11-26T02:00:00Z'), 100)).toBe(100);
    });

    it('given the slot was already handled, when a tick comes within it (a restart), then it waits for the next', () => {
      const s = schedule('every 15m');
      expect(decideSlot(s, at('2026-11-26T09:07:00Z'), at('2026-11-26T09:00:00Z'))).toEqual({ action: 'wait', next: at('2026-11-26T09:15:00Z') });
    });
  });
});
