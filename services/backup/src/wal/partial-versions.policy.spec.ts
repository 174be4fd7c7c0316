import { selectSupersededPartials, type ShippedVersion } from './partial-versions.policy.js';

const SEG = '000000010000000000000003';
const copies = [{ location: 'a', site: 's', medium: 'disk', uri: 'file:///a', sha256: 'a'.repeat(64) }];
const version = (name: string, endLsn: string, archivedAt: string, partial = true): ShippedVersion => ({ name, partial, endLsn, archivedAt, encrypted: false, copies });
const HOUR = 3_600_000;

describe('selectSupersededPartials: superseded versions of a partial segment go after a grace period, never the newest', () => {
  const v1 = version(`${SEG}.partial.00001000`, '0/3001000', '2026-12-01T10:00:00.000Z');
  const v2 = version(`${SEG}.partial.00002000`, '0/3002000', '2026-12-01T10:01:00.000Z');
  const v3 = version(`${SEG}.partial.00008000`, '0/3008000', '2026-12-01T10:02:00.000Z');

  it('given versions of a segment not yet finished, when the grace is over, then all but the newest are removed, each superseded by the next', () => {
    const removed = selectSupersededPartials([v3, v1, v2], { now: new Date('2026-12-01T11:02:00.000Z'), graceMs: HOUR });
    expect(removed.map((r) => [r.version.name, r.by, r.supersededAt])).toEqual([
      [v1.name, v2.name, v2.archivedAt],
      [v2.name, v3.name, v3.archivedAt],
    ]);
  });

  it('given a version superseded less than the grace ago, then it stays (a restore that planned on it may still read it)', () => {
    const removed = selectSupersededPartials([v1, v2, v3], { now: new Date('2026-12-01T11:01:59.000Z'), graceMs: HOUR });
    expect(removed.map((r) => r.version.name)).toEqual([v1.name]);
    expect(selectSupersededPartials([v1, v2, v3], { now: new Date('2026-12-01T10:30:00.000Z'), graceMs: HOUR })).toEqual([]);
  });

  it('given the finished segment archived, then every version goes once the grace after it is over; the finished one never', () => {
    const finished = version(SEG, '0/4000000', '2026-12-01T12:00:00.000Z', false);
    const early = selectSupersededPartials([v3, finished], { now: new Date('2026-12-01T12:59:00.000Z'), graceMs: HOUR });
    expect(early).toEqual([]);
    const late = selectSupersededPartials([v3, finished], { now: new Date('2026-12-01T13:00:00.000Z'), graceMs: HOUR });
    expect(late.map((r) => [r.version.name, r.by, r.segment])).toEqual([[v3.name, SEG, SEG]]);
  });

  it('given a grace of 0, then a superseded version goes at the next look', () => {
    expect(selectSupersededPartials([v1, v2], { now: new Date(v2.archivedAt), graceMs: 0 }).map((r) => r.version.name)).toEqual([v1.name]);
  });

  it('never removes a partial segment an older archive stored under the segment\'s name, nor another segment\'s versions', () => {
    const legacy = version(SEG, '0/3000800', '2026-12-01T09:00:00.000Z');
    const other = version('000000010000000000000004.partial.00000100', '0/4000100', '2026-12-01T09:00:00.000Z');
    const removed = selectSupersededPartials([legacy, v1, other], { now: new Date('2026-12-02T00:00:00.000Z'), graceMs: 0 });
    expect(removed).toEqual([]);
  });

  it('ignores names that are not WAL objects', () => {
    expect(selectSupersededPartials([version('../evil', '0/1', '2026-12-01T00:00:00.000Z'), v1], { now: new Date('2027-01-01T00:00:00.000Z'), graceMs: 0 })).toEqual([]);
  });
});
