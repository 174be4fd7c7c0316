import {
  consistencyProofRanges,
  inclusionProofRanges,
  isPerfectSubtree,
  leafHash,
  MemorySubtreeStore,
  perfectCover,
  rangeHash,
  rangeProofRanges,
  rootFromLeafHashes,
  type LeafRange,
} from './merkle.js';
import { popcount } from '../testing/merkle-reference.js';

// A store fetches the hashes a proof needs before computing it: the proof's ranges and the perfect
// subtrees covering them must be known from the tree sizes alone, be exactly what hashing reads,
// and stay logarithmic in number at any size.

const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));

/** The perfect subtrees `rangeHash` reads for a range, in order. */
const lookedUp = (start: number, size: number, store: MemorySubtreeStore): LeafRange[] => {
  const seen: LeafRange[] = [];
  rangeHash(start, size, (s, n) => {
    seen.push({ start: s, size: n });
    return store.perfect(s, n);
  });
  return seen;
};

/** Every perfect subtree the proof's ranges are made of, each once. */
const distinctCover = (ranges: LeafRange[]) => new Set(ranges.flatMap((r) => perfectCover(r.start, r.size)).map((s) => `${s.start}/${s.size}`));

describe('perfectCover', () => {
  const all = leaves(40);
  const store = new MemorySubtreeStore();
  for (const h of all) store.appendLeafHash(h);

  it('lists exactly the perfect subtrees rangeHash reads, for every range of a 40-leaf log', () => {
    for (let start = 0; start <= 40; start++) {
      for (let size = 0; start + size <= 40; size++) {
        expect(perfectCover(start, size)).toEqual(lookedUp(start, size, store));
      }
    }
  });

  it('covers the range with disjoint perfect subtrees, left to right, whose hashes give its MTH', () => {
    for (let start = 0; start < 40; start++) {
      for (let size = 1; start + size <= 40; size++) {
        const cover = perfectCover(start, size);
        let next = start;
        for (const s of cover) {
          expect(isPerfectSubtree(s.start, s.size)).toBe(true);
          expect(s.start).toBe(next);
          next += s.size;
        }
        expect(next).toBe(start + size);
        const found = new Map(cover.map((s) => [`${s.start}/${s.size}`, store.perfect(s.start, s.size)]));
        expect(rangeHash(start, size, (s, n) => found.get(`${s}/${n}`)!)).toEqual(rootFromLeafHashes(all.slice(start, start + size)));
      }
    }
  });

  it('is the binary digits of the size when the start is aligned to its largest power of two', () => {
    expect(perfectCover(0, 13)).toEqual([
      { start: 0, size: 8 },
      { start: 8, size: 4 },
      { start: 12, size: 1 },
    ]);
    expect(perfectCover(2 ** 40, 2 ** 40 - 1)).toHaveLength(40);
    expect(perfectCover(5, 0)).toEqual([]);
  });

  it('rejects invalid ranges', () => {
    expect(() => perfectCover(-1, 2)).toThrow(RangeError);
    expect(() => perfectCover(0, 1.5)).toThrow(RangeError);
    expect(() => perfectCover(Number.MAX_SAFE_INTEGER, 2)).toThrow(RangeError);
  });
});

describe('proof ranges: the shape of a proof from the tree sizes alone', () => {
  const all = leaves(40);
  const store = new MemorySubtreeStore();
  for (const h of all) store.appendLeafHash(h);

  it('inclusion: every range is an RFC subtree whose cover is its size in binary, at most 2·log2(n) subtrees in all', () => {
    for (let n = 1; n <= 40; n++) {
      for (let i = 0; i < n; i++) {
        const ranges = inclusionProofRanges(i, n);
        for (const r of ranges) expect(perfectCover(r.start, r.size)).toHaveLength(popcount(r.size));
        expect(distinctCover(ranges).size).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n)) + 1);
        expect(ranges.map((r) => store.hash(r.start, r.size))).toEqual(store.inclusionProof(i, n));
      }
    }
  });

  it('consistency: the same, and empty when the sizes are equal', () => {
    for (let n = 1; n <= 40; n++) {
      expect(consistencyProofRanges(n, n)).toEqual([]);
      for (let m = 1; m < n; m++) {
        const ranges = consistencyProofRanges(m, n);
        for (const r of ranges) expect(perfectCover(r.start, r.size)).toHaveLength(popcount(r.size));
        expect(distinctCover(ranges).size).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n)) + 1);
        expect(ranges.map((r) => store.hash(r.start, r.size))).toEqual(store.consistencyProof(m, n));
      }
    }
  });

  it('range proofs: the subtrees outside the range, each a perfect cover of its size in binary', () => {
    for (let n = 1; n <= 40; n++) {
      for (let from = 0; from <= n; from += 3) {
        for (let to = from; to <= n; to += 2) {
          for (const r of rangeProofRanges(from, to, n)) {
            expect(r.start + r.size <= from || r.start >= to).toBe(true);
            expect(perfectCover(r.start, r.size)).toHaveLength(popcount(r.size));
          }
        }
      }
    }
  });

  it('stays logarithmic at sizes far past a million entries, with no hashing at all', () => {
    for (const n of [1_000_000, 1_048_576, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER]) {
      for (const i of [0, 1, Math.floor(n / 3), n - 2, n - 1]) {
        const ranges = inclusionProofRanges(i, n);
        expect(ranges.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
        expect(distinctCover(ranges).size).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n)) + 1);
      }
      const m = Math.floor(n / 7) + 1;
      expect(distinctCover(consistencyProofRanges(m, n)).size).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n)) + 1);
    }
  });

  it('refuses impossible requests with a RangeError', () => {
    expect(() => inclusionProofRanges(5, 5)).toThrow(RangeError);
    expect(() => consistencyProofRanges(0, 5)).toThrow(RangeError);
    expect(() => consistencyProofRanges(6, 5)).toThrow(RangeError);
    expect(() => rangeProofRanges(3, 2, 5)).toThrow(RangeError);
  });
});
