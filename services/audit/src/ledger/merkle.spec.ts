import { createHash } from 'node:crypto';
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
  subtreeHashesFromLeaves,
  subtreeHashesFromPerfect,
  toHex,
  verifyConsistency,
  verifyInclusion,
  type PerfectSubtreeLookup,
} from './merkle.js';

// --- Independent reference: a literal transcription of RFC 6962 s2.1 (MTH, PATH, SUBPROOF) with
// its own hashing, so the module is checked against the RFC text rather than against itself.

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const refLeaf = (d: Uint8Array): Buffer => sha256(Buffer.from([0]), d);
const refNode = (l: Buffer, r: Buffer): Buffer => sha256(Buffer.from([1]), l, r);
const refSplit = (n: number): number => 2 ** Math.ceil(Math.log2(n) - 1);

/** MTH(D[n]) over leaf hashes. */
const refMth = (d: Buffer[]): Buffer => {
  if (d.length === 0) return sha256();
  if (d.length === 1) return d[0]!;
  const k = refSplit(d.length);
  return refNode(refMth(d.slice(0, k)), refMth(d.slice(k)));
};

/**
 * PATH(m, D[n]) and SUBPROOF(m, D[n], b) over D = d[start:start+n] of a fixed leaf array, with
 * MTH memoised per range so checking thousands of proofs stays fast.
 */
const reference = (d: Buffer[]) => {
  const memo = new Map<string, Buffer>();
  const mth = (start: number, n: number): Buffer => {
    const key = `${start}/${n}`;
    let h = memo.get(key);
    if (!h) {
      const k = refSplit(n);
      h = n === 1 ? d[start]! : refNode(mth(start, k), mth(start + k, n - k));
      memo.set(key, h);
    }
    return h;
  };
  const path = (m: number, start: number, n: number): Buffer[] => {
    if (n === 1) return [];
    const k = refSplit(n);
    return m < k ? [...path(m, start, k), mth(start + k, n - k)] : [...path(m - k, start + k, n - k), mth(start, k)];
  };
  const subproof = (m: number, start: number, n: number, b: boolean): Buffer[] => {
    if (m === n) return b ? [] : [mth(start, n)];
    const k = refSplit(n);
    return m <= k
      ? [...subproof(m, start, k, b), mth(start + k, n - k)]
      : [...subproof(m - k, start + k, n - k, false), mth(start, k)];
  };
  return {
    root: (n: number) => mth(0, n),
    path: (m: number, n: number) => path(m, 0, n),
    proof: (m: number, n: number) => subproof(m, 0, n, true),
  };
};

/**
 * The "shape" of PATH(m, D[n]): which side each sibling sits on. It is all the RFC 9162
 * verifier derives from the tree size, so two sizes with one shape accept the same proof.
 */
const pathShape = (m: number, n: number): string => {
  if (n === 1) return '';
  const k = refSplit(n);
  return m < k ? `${pathShape(m, k)}R` : `${pathShape(m - k, n - k)}L`;
};

/** Likewise for PROOF(m, D[n]): whether the proof carries the seed hash (S), then sibling sides. */
const proofShape = (m: number, n: number, b = true): string => {
  if (m === n) return b ? '' : 'S';
  const k = refSplit(n);
  return m <= k ? `${proofShape(m, k, b)}R` : `${proofShape(m - k, n - k, false)}L`;
};

// --- Helpers

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const hexes = (proof: Buffer[]): string[] => proof.map(toHex);
const sameHashes = (a: Buffer[], b: Buffer[]): boolean => a.length === b.length && a.every((h, i) => h.equals(b[i]!));

/** Deterministic PRNG (mulberry32) so failures reproduce. */
const prng = (seed: number): (() => number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const flipByte = (proof: Buffer[], element: number, byte: number): Buffer[] =>
  proof.map((h, i) => {
    if (i !== element) return h;
    const copy = Buffer.from(h);
    copy[byte] = copy[byte]! ^ 0xff;
    return copy;
  });

const without = <T>(xs: T[], i: number): T[] => [...xs.slice(0, i), ...xs.slice(i + 1)];
const withInserted = <T>(xs: T[], i: number, x: T): T[] => [...xs.slice(0, i), x, ...xs.slice(i)];

const popcount = (n: number): number => n.toString(2).replace(/0/g, '').length;

// --- Published Certificate Transparency vectors (RFC 6962 test data as used by CT's merkle tree
// tests and github.com/transparency-dev/merkle proof/verify_test.go).

const CT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hex);
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const CT_EMPTY_ROOT = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

// Leaf indexes here are 0-based (the Go test data writes them 1-based).
const CT_INCLUSION: Array<{ index: number; size: number; proof: string[] }> = [
  { index: 0, size: 1, proof: [] },
  {
    index: 0,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { index: 2, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    index: 1,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];

const CT_CONSISTENCY: Array<{ m: number; n: number; proof: string[] }> = [
  { m: 1, n: 1, proof: [] },
  {
    m: 1,
    n: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    m: 6,
    n: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    m: 2,
    n: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    m: 6,
    n: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

describe('hashing', () => {
  it('uses SHA-256 with 0x00 / 0x01 domain-separation prefixes', () => {
    expect(toHex(leafHash(Buffer.alloc(0)))).toBe(CT_ROOTS[0]);
    expect(leafHash(hex('2021'))).toEqual(sha256(hex('00'), hex('2021')));
    const [a, b] = [leafHash(hex('00')), leafHash(hex('10'))];
    expect(nodeHash(a, b)).toEqual(sha256(hex('01'), a, b));
    expect(nodeHash(a, b)).not.toEqual(nodeHash(b, a));
  });

  it('EMPTY_ROOT is SHA-256 of the empty string', () => {
    expect(toHex(EMPTY_ROOT)).toBe(CT_EMPTY_ROOT);
    expect(rootFromLeafHashes([])).toEqual(EMPTY_ROOT);
  });
});

describe('Certificate Transparency known answers', () => {
  const leafHashes = CT_LEAVES.map(leafHash);
  const store = new MemorySubtreeStore();
  for (const leaf of CT_LEAVES) store.append(leaf);

  it.each(CT_ROOTS.map((root, i) => [i + 1, root] as const))('root of size %d', (size, root) => {
    expect(toHex(rootFromLeafHashes(leafHashes.slice(0, size)))).toBe(root);
    expect(toHex(store.rootAt(size))).toBe(root);
  });

  it('store root of size 0 is the empty root', () => {
    expect(toHex(store.rootAt(0))).toBe(CT_EMPTY_ROOT);
  });

  it.each(CT_INCLUSION)('inclusion proof for leaf $index in tree of size $size', ({ index, size, proof }) => {
    expect(hexes(store.inclusionProof(index, size))).toEqual(proof);
    expect(verifyInclusion(leafHashes[index]!, index, size, proof.map(hex), hex(CT_ROOTS[size - 1]!))).toBe(true);
  });

  it.each(CT_CONSISTENCY)('consistency proof from size $m to $n', ({ m, n, proof }) => {
    expect(hexes(store.consistencyProof(m, n))).toEqual(proof);
    expect(verifyConsistency(m, n, hex(CT_ROOTS[m - 1]!), hex(CT_ROOTS[n - 1]!), proof.map(hex))).toBe(true);
  });
});

describe('proofs for every tree size 1..64', () => {
  const MAX = 64;
  const leaves = Array.from({ length: 2 * MAX + 1 }, (_, i) => refLeaf(Buffer.from(`audit-event-${i}`)));
  const store = new MemorySubtreeStore();
  for (const h of leaves) store.appendLeafHash(h);
  const ref = reference(leaves);
  const roots = [EMPTY_ROOT, ...leaves.map((_, i) => ref.root(i + 1))];
  const junk = sha256(Buffer.from('not a tree node'));

  it('roots match the reference MTH', () => {
    for (let n = 0; n <= leaves.length; n++) expect(store.rootAt(n)).toEqual(roots[n]);
  });

  it('inclusion proofs equal RFC PATH, verify, and every tampered variant is rejected', () => {
    const failures: string[] = [];
    let sameShapeAccepted = 0;
    for (let n = 1; n <= MAX; n++) {
      const root = roots[n]!;
      for (let i = 0; i < n; i++) {
        const leaf = leaves[i]!;
        const proof = store.inclusionProof(i, n);
        const where = `(i=${i}, n=${n})`;
        if (!sameHashes(proof, ref.path(i, n))) {
          failures.push(`${where} differs from RFC PATH`);
        }
        if (!verifyInclusion(leaf, i, n, proof, root)) failures.push(`${where} does not verify`);

        const mustFail = (what: string, ok: boolean): void => {
          if (ok) failures.push(`${where} accepted with ${what}`);
        };
        proof.forEach((_, e) => {
          mustFail(`proof[${e}] byte flipped`, verifyInclusion(leaf, i, n, flipByte(proof, e, (e * 7) % 32), root));
          mustFail(`proof[${e}] removed`, verifyInclusion(leaf, i, n, without(proof, e), root));
        });
        for (let e = 0; e <= proof.length; e++) {
          mustFail(`junk inserted at ${e}`, verifyInclusion(leaf, i, n, withInserted(proof, e, junk), root));
        }
        mustFail('root prepended', verifyInclusion(leaf, i, n, [root, ...proof], root));
        mustFail('root appended', verifyInclusion(leaf, i, n, [...proof, root], root));
        for (const j of new Set([i - 1, i + 1, i ^ 2, n])) {
          if (j !== i) mustFail(`index ${j}`, verifyInclusion(leaf, j, n, proof, root));
        }
        mustFail('another leaf', verifyInclusion(leaves[n]!, i, n, proof, root));
        for (const wrong of [roots[n - 1]!, roots[n + 1]!, flipByte([root], 0, 31)[0]!]) {
          mustFail(`root ${toHex(wrong).slice(0, 8)}`, verifyInclusion(leaf, i, n, proof, wrong));
        }
        for (const size of new Set([n - 1, n + 1, 2 * n, Math.floor(n / 2)])) {
          if (size === n) continue;
          // Against the claimed size's own root a foreign proof never verifies.
          mustFail(`size ${size} and its root`, verifyInclusion(leaf, i, size, proof, roots[size]!));
          // Against the real root, the RFC verifier binds the size only through the shape of the
          // path: a size whose path has the same left/right sequence recomputes the same root.
          const sameShape = size > i && pathShape(i, size) === pathShape(i, n);
          if (sameShape) sameShapeAccepted++;
          if (verifyInclusion(leaf, i, size, proof, root) !== sameShape) {
            failures.push(`${where} claimed size ${size}: expected ${sameShape ? 'accept (same shape)' : 'reject'}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
    expect(sameShapeAccepted).toBeGreaterThan(0); // the shape rule above was really exercised
  });

  it('consistency proofs equal RFC PROOF, verify, and every tampered variant is rejected', () => {
    const failures: string[] = [];
    let sameShapeAccepted = 0;
    for (let n = 1; n <= MAX; n++) {
      for (let m = 1; m <= n; m++) {
        const [oldRoot, newRoot] = [roots[m]!, roots[n]!];
        const proof = store.consistencyProof(m, n);
        const where = `(m=${m}, n=${n})`;
        if (!sameHashes(proof, ref.proof(m, n))) {
          failures.push(`${where} differs from RFC PROOF`);
        }
        if (!verifyConsistency(m, n, oldRoot, newRoot, proof)) failures.push(`${where} does not verify`);

        const mustFail = (what: string, ok: boolean): void => {
          if (ok) failures.push(`${where} accepted with ${what}`);
        };
        proof.forEach((_, e) => {
          mustFail(`proof[${e}] byte flipped`, verifyConsistency(m, n, oldRoot, newRoot, flipByte(proof, e, (e * 5) % 32)));
          mustFail(`proof[${e}] removed`, verifyConsistency(m, n, oldRoot, newRoot, without(proof, e)));
        });
        for (let e = 0; e <= proof.length; e++) {
          mustFail(`junk inserted at ${e}`, verifyConsistency(m, n, oldRoot, newRoot, withInserted(proof, e, junk)));
        }
        mustFail('old root prepended', verifyConsistency(m, n, oldRoot, newRoot, [oldRoot, ...proof]));
        mustFail('new root appended', verifyConsistency(m, n, oldRoot, newRoot, [...proof, newRoot]));
        if (proof.length > 0) mustFail('proof[0] repeated', verifyConsistency(m, n, oldRoot, newRoot, [proof[0]!, ...proof]));
        for (const wrong of [roots[m + 1]!, flipByte([oldRoot], 0, 0)[0]!]) {
          mustFail(`old root ${toHex(wrong).slice(0, 8)}`, verifyConsistency(m, n, wrong, newRoot, proof));
        }
        for (const wrong of [roots[n - 1]!, flipByte([newRoot], 0, 0)[0]!]) {
          if (!wrong.equals(newRoot)) mustFail(`new root ${toHex(wrong).slice(0, 8)}`, verifyConsistency(m, n, oldRoot, wrong, proof));
        }
        if (m < n) mustFail('swapped roots', verifyConsistency(m, n, newRoot, oldRoot, proof));
        for (const m2 of new Set([m - 1, m + 1, m ^ 2])) {
          if (m2 === m) continue;
          mustFail(`old size ${m2}`, verifyConsistency(m2, n, oldRoot, newRoot, proof));
          mustFail(`old size ${m2} and its root`, verifyConsistency(m2, n, roots[m2]!, newRoot, proof));
        }
        for (const n2 of new Set([n - 1, n + 1, 2 * n, Math.floor(n / 2)])) {
          if (n2 === n) continue;
          mustFail(`new size ${n2} and its root`, verifyConsistency(m, n2, oldRoot, roots[n2]!, proof));
          // As for inclusion: against the real roots, only a size giving the proof the same shape passes.
          const sameShape = m < n && n2 > m && proofShape(m, n2) === proofShape(m, n);
          if (sameShape) sameShapeAccepted++;
          if (verifyConsistency(m, n2, oldRoot, newRoot, proof) !== sameShape) {
            failures.push(`${where} claimed new size ${n2}: expected ${sameShape ? 'accept (same shape)' : 'reject'}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
    expect(sameShapeAccepted).toBeGreaterThan(0); // the shape rule above was really exercised
  });

  it('the subtree-hash accessors agree: stored perfect subtrees vs plain leaf array', () => {
    const plain = subtreeHashesFromLeaves(leaves.slice(0, 37));
    expect(inclusionProof(11, 37, plain)).toEqual(store.inclusionProof(11, 37));
    expect(consistencyProof(13, 37, plain)).toEqual(store.consistencyProof(13, 37));
    expect(consistencyProof(16, 37, plain)).toEqual(store.consistencyProof(16, 37));
  });
});

describe('edge cases of the verifiers and generators', () => {
  const store = new MemorySubtreeStore();
  for (let i = 0; i < 10; i++) store.append(Buffer.from([i]));
  const leaf0 = leafHash(Buffer.from([0]));

  it('a one-leaf tree: empty proof, root is the leaf hash', () => {
    expect(store.inclusionProof(0, 1)).toEqual([]);
    expect(store.rootAt(1)).toEqual(leaf0);
    expect(verifyInclusion(leaf0, 0, 1, [], leaf0)).toBe(true);
    expect(verifyInclusion(leaf0, 0, 1, [], EMPTY_ROOT)).toBe(false);
  });

  it('verifyInclusion rejects out-of-range and malformed input without throwing', () => {
    const root = store.rootAt(10);
    const proof = store.inclusionProof(0, 10);
    expect(verifyInclusion(leaf0, 0, 10, proof, root)).toBe(true);
    expect(verifyInclusion(leaf0, 10, 10, proof, root)).toBe(false);
    expect(verifyInclusion(leaf0, 0, 0, [], EMPTY_ROOT)).toBe(false);
    expect(verifyInclusion(leaf0, -1, 10, proof, root)).toBe(false);
    expect(verifyInclusion(leaf0, 0.5, 10, proof, root)).toBe(false);
    expect(verifyInclusion(leaf0, 0, Number.NaN, proof, root)).toBe(false);
    expect(verifyInclusion(leaf0.subarray(1), 0, 10, proof, root)).toBe(false);
    expect(verifyInclusion(leaf0, 0, 10, proof, root.subarray(0, 31))).toBe(false);
    expect(verifyInclusion(leaf0, 0, 10, [...proof.slice(0, -1), Buffer.alloc(0)], root)).toBe(false);
    expect(verifyInclusion(leaf0, 0, 10, [...proof, Buffer.alloc(0)], root)).toBe(false);
    expect(verifyInclusion(leaf0, 0, 10, 'nope' as unknown as Buffer[], root)).toBe(false);
  });

  it('accepts plain Uint8Array inputs, not only Buffers', () => {
    const root = new Uint8Array(store.rootAt(10));
    const proof = store.inclusionProof(3, 10).map((h) => new Uint8Array(h));
    expect(verifyInclusion(new Uint8Array(leafHash(Buffer.from([3]))), 3, 10, proof, root)).toBe(true);
  });

  it('consistency m == n: empty proof, valid iff the roots are equal', () => {
    const root = store.rootAt(7);
    expect(store.consistencyProof(7, 7)).toEqual([]);
    expect(verifyConsistency(7, 7, root, root, [])).toBe(true);
    expect(verifyConsistency(7, 7, root, store.rootAt(6), [])).toBe(false);
    expect(verifyConsistency(7, 7, root, root, [root])).toBe(false);
  });

  it('consistency from the empty tree (m == 0) is rejected, and m > n is an error', () => {
    expect(() => store.consistencyProof(0, 5)).toThrow(/empty tree/);
    expect(verifyConsistency(0, 5, EMPTY_ROOT, store.rootAt(5), [])).toBe(false);
    expect(verifyConsistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])).toBe(false);
    expect(() => store.consistencyProof(6, 5)).toThrow(/larger than/);
    expect(verifyConsistency(6, 5, store.rootAt(6), store.rootAt(5), store.consistencyProof(5, 6))).toBe(false);
  });

  it('consistency m < n with an empty proof is rejected (RFC 9162 step 1)', () => {
    expect(verifyConsistency(4, 8, store.rootAt(4), store.rootAt(8), [])).toBe(false);
  });

  it('verifyConsistency rejects malformed hashes without throwing', () => {
    const proof = store.consistencyProof(3, 10);
    expect(verifyConsistency(3, 10, store.rootAt(3), store.rootAt(10), proof)).toBe(true);
    expect(verifyConsistency(3, 10, store.rootAt(3).subarray(1), store.rootAt(10), proof)).toBe(false);
    expect(verifyConsistency(3, 10, store.rootAt(3), store.rootAt(10), [...proof, Buffer.alloc(31)])).toBe(false);
    expect(verifyConsistency(3.5, 10, store.rootAt(3), store.rootAt(10), proof)).toBe(false);
  });

  it('generators refuse impossible requests with a RangeError', () => {
    const plain = subtreeHashesFromLeaves([leaf0]);
    expect(() => inclusionProof(1, 1, plain)).toThrow(RangeError);
    expect(() => inclusionProof(0, 0, plain)).toThrow(RangeError);
    expect(() => inclusionProof(-1, 1, plain)).toThrow(/non-negative/);
    expect(() => consistencyProof(1.5, 2, plain)).toThrow(/non-negative/);
  });
});

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
