import {
  CompactMerkleTree,
  consistencyProof,
  EMPTY_ROOT,
  fromHex,
  inclusionProof,
  isPerfectSubtree,
  leafHash,
  MemorySubtreeStore,
  nodeHash,
  perfectSubtreesToStore,
  rangeHash,
  rootFromLeafHashes,
  subtreeHashesFromPerfect,
  toHex,
  verifyConsistency,
  verifyInclusion,
  type PerfectSubtreeLookup,
} from './merkle.js';
import { CT_EMPTY_ROOT, hex, popcount, prng, reference, refLeaf, refMth } from '../testing/merkle-reference.js';

// Stored subtrees, range hashes and proof cost, against the same independent reference.

describe('perfectSubtreesToStore', () => {
  it.each([
    [0, []],
    [1, [{ start: 0, size: 2 }]],
    [2, []],
    [3, [{ start: 2, size: 2 }, { start: 0, size: 4 }]],
    [5, [{ start: 4, size: 2 }]],
    [6, []],
    [7, [{ start: 6, size: 2 }, { start: 4, size: 4 }, { start: 0, size: 8 }]],
    [11, [{ start: 10, size: 2 }, { start: 8, size: 4 }]],
  ])('appending leaf %d completes %j', (index, expected) => {
    expect(perfectSubtreesToStore(index)).toEqual(expected);
  });

  it('handles indices beyond 32 bits', () => {
    const index = 2 ** 40 - 1;
    const completed = perfectSubtreesToStore(index);
    expect(completed).toHaveLength(40);
    expect(completed.at(-1)).toEqual({ start: 0, size: 2 ** 40 });
  });

  it('over leaves 0..n-1 produces each perfect aligned subtree exactly once', () => {
    const n = 100;
    const produced = Array.from({ length: n }, (_, i) => perfectSubtreesToStore(i).map((s) => `${s.start}/${s.size}`)).flat();
    const expected: string[] = [];
    for (let size = 2; size <= n; size *= 2) for (let start = 0; start + size <= n; start += size) expected.push(`${start}/${size}`);
    expect(produced.sort()).toEqual(expected.sort());
  });

  it('rejects invalid indices', () => {
    expect(() => perfectSubtreesToStore(-1)).toThrow(RangeError);
    expect(() => perfectSubtreesToStore(1.5)).toThrow(RangeError);
  });
});

describe('rangeHash', () => {
  const N = 300;
  const leaves = Array.from({ length: N }, (_, i) => refLeaf(Buffer.from(`r${i}`)));
  // Perfect subtrees precomputed by the reference, independently of MemorySubtreeStore.
  const table = new Map<string, Buffer>();
  for (let size = 1; size <= N; size *= 2) {
    for (let start = 0; start + size <= N; start += size) table.set(`${start}/${size}`, refMth(leaves.slice(start, start + size)));
  }
  let lookups = 0;
  const perfect: PerfectSubtreeLookup = (start, size) => {
    lookups++;
    if (!isPerfectSubtree(start, size)) throw new Error(`asked for non-perfect (${start}, ${size})`);
    const h = table.get(`${start}/${size}`);
    if (!h) throw new Error(`asked for (${start}, ${size}) beyond the tree`);
    return h;
  };

  it('equals the MTH of the slice for random ranges, aligned or not', () => {
    const rnd = prng(42);
    for (let t = 0; t < 250; t++) {
      const start = Math.floor(rnd() * N);
      const size = Math.floor(rnd() * (N - start + 1));
      expect(toHex(rangeHash(start, size, perfect))).toBe(toHex(refMth(leaves.slice(start, start + size))));
    }
  });

  it('needs only popcount(size) lookups for RFC-aligned ranges', () => {
    const rnd = prng(7);
    for (let t = 0; t < 300; t++) {
      const size = 1 + Math.floor(rnd() * 200);
      const align = 2 ** Math.floor(Math.log2(size));
      const start = align * Math.floor((rnd() * (N - size + 1)) / align);
      lookups = 0;
      expect(rangeHash(start, size, perfect)).toEqual(refMth(leaves.slice(start, start + size)));
      expect(lookups).toBe(popcount(size));
    }
  });

  it('returns the empty root for an empty range and validates arguments', () => {
    expect(rangeHash(17, 0, perfect)).toEqual(EMPTY_ROOT);
    expect(() => rangeHash(-1, 2, perfect)).toThrow(RangeError);
    expect(() => rangeHash(0, 2.5, perfect)).toThrow(RangeError);
  });

  it('fails loudly when the lookup returns something that is not a 32-byte hash', () => {
    expect(() => rangeHash(0, 3, () => Buffer.alloc(8))).toThrow(/returned 8 bytes/);
  });
});

describe('MemorySubtreeStore', () => {
  const N = 1000;
  const leaves = Array.from({ length: N }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
  const store = new MemorySubtreeStore();
  const indices = leaves.map((h) => store.appendLeafHash(h));

  it('append returns consecutive indices', () => {
    expect(indices).toEqual(leaves.map((_, i) => i));
  });

  it('rootAt(m) equals the MTH of the first m leaves for every m <= 1000', () => {
    const ref = reference(leaves);
    const wrong: number[] = [];
    for (let m = 0; m <= N; m++) {
      // rootFromLeafHashes is O(m): apply it to a spread of sizes, the memoised reference to all.
      const expected = m % 7 === 0 || m < 70 || isPerfectSubtree(0, m) || isPerfectSubtree(0, m + 1) ? rootFromLeafHashes(leaves.slice(0, m)) : ref.root(m);
      if (m > 0 && !ref.root(m).equals(expected)) wrong.push(-m);
      if (!store.rootAt(m).equals(expected)) wrong.push(m);
    }
    expect(wrong).toEqual([]);
    expect(store.root()).toEqual(rootFromLeafHashes(leaves));
    expect(store.size).toBe(N);
  });

  it('serves proofs that verify, with O(log^2 n) perfect-subtree lookups', () => {
    const spy = jest.spyOn(store, 'perfect');
    const rnd = prng(1);
    for (let t = 0; t < 200; t++) {
      const n = 1 + Math.floor(rnd() * N);
      const i = Math.floor(rnd() * n);
      const m = 1 + Math.floor(rnd() * n);
      spy.mockClear();
      const inc = store.inclusionProof(i, n);
      const con = store.consistencyProof(m, n);
      expect(spy.mock.calls.length).toBeLessThanOrEqual(2 * 10 * 10);
      expect(verifyInclusion(leaves[i]!, i, n, inc, store.rootAt(n))).toBe(true);
      expect(verifyConsistency(m, n, store.rootAt(m), store.rootAt(n), con)).toBe(true);
    }
    spy.mockRestore();
  });

  it('is also exported as CompactMerkleTree', () => {
    const tree = new CompactMerkleTree();
    tree.append(Buffer.from('x'));
    expect(tree.root()).toEqual(leafHash(Buffer.from('x')));
  });

  it('copies appended hashes so later mutation by the caller cannot change history', () => {
    const tree = new MemorySubtreeStore();
    const h = leafHash(Buffer.from('a'));
    tree.appendLeafHash(h);
    tree.append(Buffer.from('b'));
    const before = tree.root();
    h.fill(0);
    expect(tree.root()).toEqual(before);
  });

  it('refuses sizes beyond what was appended, non-perfect lookups and malformed hashes', () => {
    expect(() => store.rootAt(N + 1)).toThrow(/exceeds/);
    expect(() => store.inclusionProof(0, N + 1)).toThrow(/exceeds/);
    expect(() => store.consistencyProof(1, N + 1)).toThrow(/exceeds/);
    expect(() => store.perfect(1, 2)).toThrow(/not a perfect aligned subtree/);
    expect(() => store.perfect(0, 1024)).toThrow(/not complete/);
    expect(() => store.appendLeafHash(Buffer.alloc(31))).toThrow(/32 bytes, got 31 bytes/);
    expect(store.size).toBe(N);
  });
});

describe('proof cost in a virtual 1,000,000-leaf tree', () => {
  // Every leaf hash is the same, so each perfect subtree's hash depends only on its height: a
  // tree whose hashes are mutually consistent yet computable on demand, with no leaves stored.
  const heightHashes = [leafHash(Buffer.from('uniform'))];
  const perfectHash = (size: number): Buffer => {
    let h = 0;
    for (let s = size; s > 1; s /= 2) h++;
    while (heightHashes.length <= h) heightHashes.push(nodeHash(heightHashes.at(-1)!, heightHashes.at(-1)!));
    return heightHashes[h]!;
  };
  const virtualTree = (treeSize: number) => {
    const calls: Array<[number, number]> = [];
    const lookup: PerfectSubtreeLookup = (start, size) => {
      if (!isPerfectSubtree(start, size) || start + size > treeSize) throw new Error(`bad lookup (${start}, ${size})`);
      calls.push([start, size]);
      return perfectHash(size);
    };
    return { calls, lookup, hashes: subtreeHashesFromPerfect(lookup) };
  };

  const N = 1_000_000;
  const { calls, lookup, hashes } = virtualTree(N);
  const root = rangeHash(0, N, lookup);

  it.each([0, 1, 2, 499_999, 524_287, 524_288, 999_998, 999_999])('inclusion proof for leaf %d', (index) => {
    calls.length = 0;
    const proof = inclusionProof(index, N, hashes);
    expect(calls.length).toBeLessThan(100);
    expect(verifyInclusion(perfectHash(1), index, N, proof, root)).toBe(true);
    expect(verifyInclusion(perfectHash(1), index, N, proof, EMPTY_ROOT)).toBe(false);
  });

  it.each([1, 2, 3, 777, 524_287, 524_288, 524_289, 777_777, 999_999, N])('consistency proof from %d', (m) => {
    const oldRoot = rangeHash(0, m, lookup);
    calls.length = 0;
    const proof = consistencyProof(m, N, hashes);
    expect(calls.length).toBeLessThan(100);
    expect(verifyConsistency(m, N, oldRoot, root, proof)).toBe(true);
  });

  it('worst case over many random requests stays far below a few hundred lookups', () => {
    const rnd = prng(99);
    let worst = 0;
    for (let t = 0; t < 1000; t++) {
      const n = 1 + Math.floor(rnd() * N);
      const { calls: c, hashes: h } = virtualTree(n);
      inclusionProof(Math.floor(rnd() * n), n, h);
      worst = Math.max(worst, c.length);
      c.length = 0;
      consistencyProof(1 + Math.floor(rnd() * n), n, h);
      worst = Math.max(worst, c.length);
    }
    // log2(1e6) ~ 20 levels; right-edge siblings add popcount-many lookups each.
    expect(worst).toBeLessThan(200);
  });

  it('works past 32-bit sizes (no bitwise truncation)', () => {
    const big = 2 ** 40 + 12_345;
    const t = virtualTree(big);
    const bigRoot = rangeHash(0, big, t.lookup);
    const index = 2 ** 40 + 100;
    expect(verifyInclusion(perfectHash(1), index, big, inclusionProof(index, big, t.hashes), bigRoot)).toBe(true);
    const m = 2 ** 33 + 7;
    expect(verifyConsistency(m, big, rangeHash(0, m, t.lookup), bigRoot, consistencyProof(m, big, t.hashes))).toBe(true);
    expect(t.calls.length).toBeLessThan(400);
  });
});

describe('hex helpers', () => {
  it('round-trips 32-byte hashes, accepting either case', () => {
    expect(fromHex(CT_EMPTY_ROOT)).toEqual(EMPTY_ROOT);
    expect(toHex(fromHex(CT_EMPTY_ROOT.toUpperCase()))).toBe(CT_EMPTY_ROOT);
    expect(toHex(new Uint8Array(EMPTY_ROOT))).toBe(CT_EMPTY_ROOT);
    expect(toHex(EMPTY_ROOT.subarray(30))).toBe('b855');
  });

  it.each([
    ['', /"" \(0 chars\)/],
    ['xyz', /"xyz"/],
    [CT_EMPTY_ROOT.slice(1), /63 chars/],
    [`${CT_EMPTY_ROOT}0`, /65 chars/],
    [`0x${CT_EMPTY_ROOT.slice(2)}`, /"0xb0c442/],
    [`${CT_EMPTY_ROOT.slice(0, 63)}g`, /85g"/],
    [` ${CT_EMPTY_ROOT.slice(1)}`, /" 3b0c4/],
  ])('rejects %j with an error naming the value', (bad, pattern) => {
    expect(() => fromHex(bad)).toThrow(pattern);
    expect(() => fromHex(bad)).toThrow(/expected 64 hex characters/);
  });

  it('rejects non-strings with a clear error', () => {
    expect(() => fromHex(undefined as unknown as string)).toThrow(/invalid hash undefined/);
    expect(() => fromHex(42 as unknown as string)).toThrow(/invalid hash number/);
  });
});
