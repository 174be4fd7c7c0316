import { leafHash, MemorySubtreeStore, rangeProof, rootFromRange } from './merkle.js';

// A range proof must give the signed root for exactly the leaves at exactly their positions, and
// for nothing else: checked exhaustively on small trees, where every shape of the RFC split occurs.

const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
const treeOf = (hashes: Buffer[]) => {
  const store = new MemorySubtreeStore();
  for (const h of hashes) store.appendLeafHash(h);
  return store;
};

describe('range proofs', () => {
  const all = leaves(33);
  const store = treeOf(all);

  it('recompute the root of every tree size 1..33 from every range [from, to) and its proof', () => {
    for (let n = 1; n <= 33; n++) {
      const root = store.rootAt(n);
      for (let from = 0; from <= n; from++) {
        for (let to = from; to <= n; to++) {
          const proof = rangeProof(from, to, n, store);
          expect(rootFromRange(from, n, all.slice(from, to), proof)).toEqual(root);
          // Logarithmic: at most two paths straddle the range's ends.
          expect(proof.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n + 1)) + 1);
        }
      }
    }
  });

  it('give a different root (or none) when a leaf is dropped, swapped, changed or shifted', () => {
    const n = 21;
    const root = store.rootAt(n);
    const same = (r: Buffer | null) => r !== null && r.equals(root);
    for (let from = 0; from < n; from++) {
      for (let to = from + 1; to <= n; to++) {
        const range = all.slice(from, to);
        const proof = rangeProof(from, to, n, store);
        // Drop one from the middle, keep the claimed start: the shape no longer fits the proof.
        if (range.length > 1) {
          const dropped = [...range.slice(0, 1), ...range.slice(2)];
          expect(same(rootFromRange(from, n, dropped, proof))).toBe(false);
          // …nor the genuine proof for one entry fewer (with two entries, dropping the second is an honest truncation).
          if (range.length > 2) expect(same(rootFromRange(from, n, dropped, rangeProof(from, to - 1, n, store)))).toBe(false);
          const swapped = [range[1]!, range[0]!, ...range.slice(2)];
          expect(same(rootFromRange(from, n, swapped, proof))).toBe(false);
        }
        const changed = [leafHash(Buffer.from('forged')), ...range.slice(1)];
        expect(same(rootFromRange(from, n, changed, proof))).toBe(false);
        // The same leaves claimed one position later (or earlier).
        if (to < n) expect(same(rootFromRange(from + 1, n, range, proof))).toBe(false);
        if (from > 0) expect(same(rootFromRange(from - 1, n, range, proof))).toBe(false);
        // A proof with a hash too many or too few does not fit.
        expect(rootFromRange(from, n, range, [...proof, root])).toBeNull();
        if (proof.length) expect(rootFromRange(from, n, range, proof.slice(1))).toBeNull();
      }
    }
  });

  it('refuses ranges outside the tree and malformed input without throwing', () => {
    expect(() => rangeProof(3, 2, 8, store)).toThrow(RangeError);
    expect(() => rangeProof(0, 9, 8, store)).toThrow(RangeError);
    expect(rootFromRange(7, 8, all.slice(7, 9), [])).toBeNull();
    expect(rootFromRange(0, 8, [Buffer.alloc(3)], [])).toBeNull();
    expect(rootFromRange(-1, 8, [], [])).toBeNull();
  });
});
