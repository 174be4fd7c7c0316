import { isoWeekOf, RetentionCandidate, selectRetention } from './retention.policy.js';

const at = (iso: string) => new Date(iso);
const candidate = (recoveryPoint: string, verdict: RetentionCandidate['verdict'] = null): RetentionCandidate => ({
  backupId: recoveryPoint,
  recoveryPoint,
  verdict,
});

describe('retention selection', () => {
  it('knows ISO weeks', () => {
    expect(isoWeekOf(at('2026-01-01T00:00:00Z'))).toBe('2026-W01');
    expect(isoWeekOf(at('2026-03-01T23:00:00Z'))).toBe('2026-W09');
    expect(isoWeekOf(at('2027-01-01T00:00:00Z'))).toBe('2026-W53');
  });

  it('across 60 simulated days, applied after every backup, keeps exactly the expected backups', () => {
    const rules = { keepLast: 2, daily: 7, weekly: 4, monthly: 3 };
    let kept: RetentionCandidate[] = [];
    const expiredIds: string[] = [];
    const start = Date.parse('2026-01-01T00:00:00Z');
    for (let day = 0; day < 60; day++) {
      for (const hour of [2, 14]) {
        const now = new Date(start + day * 86_400_000 + hour * 3_600_000);
        // Verification passes until Feb 10; later backups fail it (say, a broken verifier).
        const verdict = now.getTime() <= Date.parse('2026-02-10T14:00:00Z') ? 'passed' : 'failed';
        kept.push(candidate(now.toISOString(), verdict));
        const decision = selectRetention(kept, rules, now);
        expiredIds.push(...decision.expire.map((e) => e.backupId));
        kept = kept.filter((c) => decision.keep.some((k) => k.backupId === c.backupId));
      }
    }
    expect(kept.map((c) => c.recoveryPoint).sort().reverse()).toEqual([
      '2026-03-01T14:00:00.000Z', // last 1, daily, weekly W09, monthly 2026-03
      '2026-03-01T02:00:00.000Z', // last 2
      '2026-02-28T14:00:00.000Z', // daily, monthly 2026-02
      '2026-02-27T14:00:00.000Z',
      '2026-02-26T14:00:00.000Z',
      '2026-02-25T14:00:00.000Z',
      '2026-02-24T14:00:00.000Z',
      '2026-02-23T14:00:00.000Z', // daily 7 of 7
      '2026-02-22T14:00:00.000Z', // weekly W08
      '2026-02-15T14:00:00.000Z', // weekly W07
      '2026-02-10T14:00:00.000Z', // newest verified backup
      '2026-02-08T14:00:00.000Z', // weekly W06
      '2026-01-31T14:00:00.000Z', // monthly 2026-01
    ]);
    expect(expiredIds).toHaveLength(120 - 13);
    expect(new Set(expiredIds).size).toBe(expiredIds.length);
  });

  it('gives the reasons a backup is kept, and why another expires', () => {
    const decision = selectRetention(
      [candidate('2026-03-01T14:00:00.000Z'), candidate('2026-03-01T02:00:00.000Z'), candidate('2026-02-01T02:00:00.000Z', 'passed')],
      { keepLast: 1, daily: 1, weekly: 0, monthly: 0 },
      at('2026-03-02T00:00:00Z'),
    );
    expect(decision.keep).toEqual([
      { backupId: '2026-03-01T14:00:00.000Z', recoveryPoint: '2026-03-01T14:00:00.000Z', reasons: ['last 1 of 1', 'daily 2026-03-01'] },
      { backupId: '2026-02-01T02:00:00.000Z', recoveryPoint: '2026-02-01T02:00:00.000Z', reasons: ['newest verified backup'] },
    ]);
    expect(decision.expire).toEqual([{ backupId: '2026-03-01T02:00:00.000Z', recoveryPoint: '2026-03-01T02:00:00.000Z', reason: 'beyond keep-last 1, daily 1' }]);
  });

  it('never expires a backup from the future, nor every backup when backups stopped long ago', () => {
    const decision = selectRetention(
      [candidate('2027-01-01T00:00:00.000Z'), candidate('2020-01-01T00:00:00.000Z'), candidate('2019-12-31T00:00:00.000Z')],
      { keepLast: 0, daily: 1, weekly: 0, monthly: 0 },
      at('2026-01-01T00:00:00Z'),
    );
    expect(decision.keep.map((k) => k.backupId)).toEqual(['2027-01-01T00:00:00.000Z']);
    const stopped = selectRetention([candidate('2020-01-01T00:00:00.000Z'), candidate('2019-12-31T00:00:00.000Z')], { keepLast: 0, daily: 1, weekly: 0, monthly: 0 }, at('2026-01-01T00:00:00Z'));
    expect(stopped.keep.map((k) => k.backupId)).toEqual(['2020-01-01T00:00:00.000Z']);
  });
});
