import { ChainFile, gapKey, segmentNameAt, walChain } from './wal-chain.js';

const MB16 = 0x1000000n;
const lsn = (v: bigint) => `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
/** Finished segment number `n` of `timeline`. */
const seg = (n: number, timeline = 1, over: Partial<ChainFile> = {}): ChainFile => ({
  name: segmentNameAt(timeline, BigInt(n) * MB16),
  kind: 'segment',
  timeline,
  startLsn: lsn(BigInt(n) * MB16),
  endLsn: lsn(BigInt(n + 1) * MB16),
  partial: false,
  ...over,
});
const history = (timeline: number, at: string): ChainFile => ({ name: `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`, kind: 'history', timeline, startLsn: at, endLsn: at, partial: false });

describe('WAL chain (pure)', () => {
  it('names segments as PostgreSQL does', () => {
    expect(segmentNameAt(1, 3n * MB16)).toBe('000000010000000000000003');
    expect(segmentNameAt(2, 0x1_0000_0000n + 5n * MB16)).toBe('000000020000000100000005');
  });

  it('a chain without a hole: no gap, one span from the first start to the last end', () => {
    const state = walChain([seg(3), seg(4), seg(5)]);
    expect(state.gaps).toEqual([]);
    expect(state.timelines).toEqual([{ timeline: 1, startLsn: '0/3000000', endLsn: '0/6000000', segments: 3 }]);
  });

  it('order of arrival does not matter', () => {
    expect(walChain([seg(5), seg(3), seg(4)])).toEqual(walChain([seg(3), seg(4), seg(5)]));
  });

  it('a missing segment is a gap with its LSN range and the missing names', () => {
    const { gaps } = walChain([seg(3), seg(4), seg(6), seg(7)]);
    expect(gaps).toEqual([{ timeline: 1, fromLsn: '0/5000000', toLsn: '0/6000000', detail: expect.stringContaining('segment 000000010000000000000005 missing') }]);
  });

  it('several missing segments in a row are one gap naming the first and last', () => {
    const { gaps } = walChain([seg(3), seg(7)]);
    expect(gaps).toEqual([{ timeline: 1, fromLsn: '0/4000000', toLsn: '0/7000000', detail: expect.stringContaining('segments 000000010000000000000004 to 000000010000000000000006 missing') }]);
  });

  it('a partial segment is superseded by the finished one of the same name, whichever came first', () => {
    const partial = seg(5, 1, { partial: true, endLsn: '0/5000100' });
    for (const files of [[seg(4), partial, seg(5), seg(6)], [seg(4), seg(5), partial, seg(6)]]) {
      const state = walChain(files);
      expect(state.gaps).toEqual([]);
      expect(state.timelines[0]).toEqual({ timeline: 1, startLsn: '0/4000000', endLsn: '0/7000000', segments: 3 });
    }
  });

  it('the newest partial segment extends the chain to its end; the longer of two partial shipments counts', () => {
    const state = walChain([seg(4), seg(5, 1, { partial: true, endLsn: '0/5000100' }), seg(5, 1, { partial: true, endLsn: '0/5000800' })]);
    expect(state.gaps).toEqual([]);
    expect(state.timelines[0]!.endLsn).toBe('0/5000800');
  });

  it('a partial segment never finished while later segments exist leaves a hole from its end', () => {
    const { gaps } = walChain([seg(4), seg(5, 1, { partial: true, endLsn: '0/5000100' }), seg(6)]);
    expect(gaps).toEqual([{ timeline: 1, fromLsn: '0/5000100', toLsn: '0/6000000', detail: expect.stringContaining('segment 000000010000000000000005 missing') }]);
  });

  it('a timeline after 1 needs its history file, and must start where the history says', () => {
    const tl2 = [seg(6, 2), seg(7, 2)];
    expect(walChain([seg(5), ...tl2]).gaps).toEqual([{ timeline: 2, fromLsn: '0/6000000', toLsn: '0/6000000', detail: expect.stringContaining('no archived history file (00000002.history)') }]);
    expect(walChain([seg(5), seg(6), history(2, '0/6000A28'), ...tl2]).gaps).toEqual([]);
    expect(walChain([seg(5), history(2, '0/5000A28'), ...tl2]).gaps).toEqual([
      { timeline: 2, fromLsn: '0/5000A28', toLsn: '0/6000000', detail: expect.stringContaining('segment 000000020000000000000005 missing') },
    ]);
  });

  it('spans are per timeline, each with its own count', () => {
    const state = walChain([seg(5), seg(6), history(2, '0/6000A28'), seg(6, 2), seg(7, 2)]);
    expect(state.timelines).toEqual([
      { timeline: 1, startLsn: '0/5000000', endLsn: '0/7000000', segments: 2 },
      { timeline: 2, startLsn: '0/6000000', endLsn: '0/8000000', segments: 2 },
    ]);
  });

  it('positions across a 4 GiB log boundary', () => {
    const last = { ...seg(255), endLsn: '1/0' };
    const next: ChainFile = { name: segmentNameAt(1, 0x1_0000_0000n), kind: 'segment', timeline: 1, startLsn: '1/0', endLsn: '1/1000000', partial: false };
    expect(walChain([last, next]).gaps).toEqual([]);
    expect(gapKey({ timeline: 1, fromLsn: '0/05000000', toLsn: '0/6000000' })).toBe('1:0/5000000:0/6000000');
  });
});
