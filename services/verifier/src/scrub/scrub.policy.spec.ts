import { planScrub, ScrubCandidate } from './scrub.policy.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PERIOD = 30 * DAY;

describe('planScrub', () => {
  it('takes nothing while every backup was verified recently', () => {
    const now = 100 * DAY;
    const backups = Array.from({ length: 10 }, (_, i) => ({ backupId: `b${i}`, lastVerifiedAt: now - i * HOUR }));
    expect(planScrub({ now, periodMs: PERIOD, everyMs: HOUR, backups }).backupIds).toEqual([]);
  });

  it('takes never-verified backups and those about to pass the period first, oldest-checked first', () => {
    const now = 100 * DAY;
    const plan = planScrub({
      now,
      periodMs: PERIOD,
      everyMs: HOUR,
      backups: [
        { backupId: 'fresh', lastVerifiedAt: now - DAY },
        { backupId: 'almost', lastVerifiedAt: now - PERIOD + 30 * 60_000 },
        { backupId: 'never', lastVerifiedAt: null },
        { backupId: 'overdue', lastVerifiedAt: now - PERIOD - DAY },
      ],
    });
    expect(plan.backupIds).toEqual(['never', 'overdue', 'almost']);
    expect(plan.due).toBe(3);
  });

  it('tops a round up to its share of the period with backups not verified in the last half-period', () => {
    const now = 100 * DAY;
    const backups = Array.from({ length: 7_200 }, (_, i) => ({ backupId: `b${String(i).padStart(4, '0')}`, lastVerifiedAt: now - 20 * DAY + i * 60_000 }));
    const plan = planScrub({ now, periodMs: PERIOD, everyMs: HOUR, backups });
    expect(plan.quota).toBe(10); // 7,200 backups × 1 h / 720 h
    expect(plan.backupIds).toEqual(['b0000', 'b0001', 'b0002', 'b0003', 'b0004', 'b0005', 'b0006', 'b0007', 'b0008', 'b0009']);
  });

  it('keeps every retained backup within the period and spreads the work, over 120 simulated days', () => {
    // Backups arrive in bursts (a day with 300, then quiet), are verified on arrival, some expire.
    const every = HOUR;
    const lastVerified = new Map<string, number>();
    const verifiedAt = new Map<string, number[]>();
    const perRound: number[] = [];
    let seq = 0;
    for (let now = 0; now <= 120 * DAY; now += every) {
      const arriving = now % (40 * DAY) === 0 ? 300 : now % (6 * HOUR) === 0 ? 1 : 0;
      for (let i = 0; i < arriving; i++) {
        const id = `b${seq++}`;
        lastVerified.set(id, now);
        verifiedAt.set(id, [now]);
      }
      const backups: ScrubCandidate[] = [...lastVerified].map(([backupId, at]) => ({ backupId, lastVerifiedAt: at }));
      const plan = planScrub({ now, periodMs: PERIOD, everyMs: every, backups });
      perRound.push(plan.backupIds.length);
      for (const id of plan.backupIds) {
        lastVerified.set(id, now);
        verifiedAt.get(id)!.push(now);
      }
    }
    for (const times of verifiedAt.values()) {
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThanOrEqual(PERIOD);
    }
    // The 300-backup bursts are scrubbed a share at a time, not 300 in one round.
    const n = lastVerified.size;
    expect(Math.max(...perRound)).toBeLessThanOrEqual(Math.ceil((n * every) / PERIOD) + 1);
    // And nothing is scrubbed much more often than needed: on average about once per period or half-period.
    const total = perRound.reduce((a, b) => a + b, 0);
    expect(total).toBeLessThan((n * 120 * DAY) / (PERIOD / 2));
  });
});
