import { createHash } from 'node:crypto';
import { toHex } from '../ledger/merkle.js';

// --- Independent reference: a literal transcription of RFC 6962 s2.1 (MTH, PATH, SUBPROOF) with
// its own hashing, so the module is checked against the RFC text rather than against itself.

export const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
export const refLeaf = (d: Uint8Array): Buffer => sha256(Buffer.from([0]), d);
export const refNode = (l: Buffer, r: Buffer): Buffer => sha256(Buffer.from([1]), l, r);
export const refSplit = (n: number): number => 2 ** Math.ceil(Math.log2(n) - 1);

/** MTH(D[n]) over leaf hashes. */
export const refMth = (d: Buffer[]): Buffer => {
  if (d.length === 0) return sha256();
  if (d.length === 1) return d[0]!;
  const k = refSplit(d.length);
  return refNode(refMth(d.slice(0, k)), refMth(d.slice(k)));
};

/**
 * PATH(m, D[n]) and SUBPROOF(m, D[n], b) over D = d[start:start+n] of a fixed leaf array, with
 * MTH memoised per range so checking thousands of proofs stays fast.
 */
export const reference = (d: Buffer[]) => {
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
export const pathShape = (m: number, n: number): string => {
  if (n === 1) return '';
  const k = refSplit(n);
  return m < k ? `${pathShape(m, k)}R` : `${pathShape(m - k, n - k)}L`;
};

/** Likewise for PROOF(m, D[n]): whether the proof carries the seed hash (S), then sibling sides. */
export const proofShape = (m: number, n: number, b = true): string => {
  if (m === n) return b ? '' : 'S';
  const k = refSplit(n);
  return m <= k ? `${proofShape(m, k, b)}R` : `${proofShape(m - k, n - k, false)}L`;
};

// --- Helpers

export const hex = (s: string): Buffer => Buffer.from(s, 'hex');
export const hexes = (proof: Buffer[]): string[] => proof.map(toHex);
export const sameHashes = (a: Buffer[], b: Buffer[]): boolean => a.length === b.length && a.every((h, i) => h.equals(b[i]!));

/** Deterministic PRNG (mulberry32) so failures reproduce. */
export const prng = (seed: number): (() => number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

export const flipByte = (proof: Buffer[], element: number, byte: number): Buffer[] =>
  proof.map((h, i) => {
    if (i !== element) return h;
    const copy = Buffer.from(h);
    copy[byte] = copy[byte]! ^ 0xff;
    return copy;
  });

export const without = <T>(xs: T[], i: number): T[] => [...xs.slice(0, i), ...xs.slice(i + 1)];
export const withInserted = <T>(xs: T[], i: number, x: T): T[] => [...xs.slice(0, i), x, ...xs.slice(i)];

export const popcount = (n: number): number => n.toString(2).replace(/0/g, '').length;

// --- Published Certificate Transparency vectors (RFC 6962 test data as used by CT's merkle tree
// tests and github.com/transparency-dev/merkle proof/verify_test.go).

export const CT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hex);
export const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
export const CT_EMPTY_ROOT = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

// Leaf indexes here are 0-based (the Go test data writes them 1-based).
export const CT_INCLUSION: Array<{ index: number; size: number; proof: string[] }> = [
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

export const CT_CONSISTENCY: Array<{ m: number; n: number; proof: string[] }> = [
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
