import { badCopiesReason, gapReason, walVerified, WalCopyOutcome } from './wal-verdict.js';

const at = new Date('2026-12-01T01:00:00.000Z');
const good = (name: string, location: string): WalCopyOutcome => ({ name, location, uri: `file:///b/${location}/${name}.zst`, status: 'good', error: null });
const span = { timeline: 1, startLsn: '0/3000000', endLsn: '0/5000000', segments: 2 };

describe('WalVerified (pure)', () => {
  it('passes when every copy matched and the chain has no gap, tallying per location', () => {
    const data = walVerified({
      trigger: 'new',
      filesChecked: 2,
      outcomes: [good('A', 'local'), good('A', 'offsite'), good('B', 'local'), good('B', 'offsite')],
      chain: { timelines: [span], gaps: [] },
      verifiedAt: at,
    });
    expect(data).toEqual({
      trigger: 'new',
      verdict: 'passed',
      segmentsChecked: 2,
      copies: [
        { location: 'local', ok: 2, failed: 0, unverifiable: 0 },
        { location: 'offsite', ok: 2, failed: 0, unverifiable: 0 },
      ],
      failedCopies: [],
      gaps: [],
      timelines: [span],
      verifiedAt: '2026-12-01T01:00:00.000Z',
    });
  });

  it('fails on one bad copy, naming it, while the others count as ok', () => {
    const bad: WalCopyOutcome = { ...good('B', 'offsite'), status: 'bad', error: 'SHA-256 is 00…, expected ff…' };
    const data = walVerified({ trigger: 'scrub', filesChecked: 2, outcomes: [good('A', 'local'), good('A', 'offsite'), good('B', 'local'), bad], chain: { timelines: [span], gaps: [] }, verifiedAt: at });
    expect(data.verdict).toBe('failed');
    expect(data.copies).toContainEqual({ location: 'offsite', ok: 1, failed: 1, unverifiable: 0 });
    expect(data.failedCopies).toEqual([{ name: 'B', location: 'offsite', uri: bad.uri, error: bad.error }]);
    expect(badCopiesReason('orders-db', [good('A', 'local'), bad])).toBe(`WAL archive of orders-db: 1 copy failed the check: B in offsite (${bad.error})`);
    expect(badCopiesReason('orders-db', [good('A', 'local')])).toBeNull();
  });

  it('fails while the chain has a gap, and says where', () => {
    const gap = { timeline: 1, fromLsn: '0/5000000', toLsn: '0/6000000', detail: 'segment 000000010000000000000005 missing' };
    const data = walVerified({ trigger: 'new', filesChecked: 1, outcomes: [good('A', 'local')], chain: { timelines: [span], gaps: [gap] }, verifiedAt: at });
    expect(data).toMatchObject({ verdict: 'failed', gaps: [gap] });
    expect(gapReason('orders-db', gap)).toContain('gap on timeline 1 from 0/5000000 to 0/6000000');
  });

  it('is unverifiable when a copy is where this verifier cannot read, and nothing failed', () => {
    const data = walVerified({ trigger: 'new', filesChecked: 1, outcomes: [good('A', 'local'), { ...good('A', 's3'), status: 'unverifiable', error: 'location type s3://' }], chain: { timelines: [span], gaps: [] }, verifiedAt: at });
    expect(data.verdict).toBe('unverifiable');
  });

  it('keeps a long reason within the event limit', () => {
    const many = Array.from({ length: 400 }, (_, i): WalCopyOutcome => ({ ...good(`F${i}`, 'local'), status: 'bad', error: 'x'.repeat(50) }));
    expect(badCopiesReason('r', many)!.length).toBeLessThanOrEqual(4096);
  });
});
