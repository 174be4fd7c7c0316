/**
 * Merkle-tree math for the verifiable audit log, as Certificate Transparency defines it
 * (RFC 6962 section 2.1, restated with verification algorithms in RFC 9162 section 2.1).
 *
 * Pure: no I/O. Proof generators read hashes through `SubtreeHashes`, so a store can answer
 * them from hashes of perfect aligned subtrees written once at append time, never by
 * rehashing the log.
 */
import { createHash, hash as digest } from 'node:crypto';

export const HASH_SIZE = 32;

// Builtins bound once: inside vm sandboxes (Jest) each global lookup is a slow interceptor call
// (~0.2 us), which would otherwise dominate the verifiers' tight loops.
const NodeBuffer = Buffer;
const Bytes = Uint8Array;
const { isSafeInteger } = Number;
const { isArray } = Array;

// Domain separation (RFC 6962 s2.1): leaves are hashed behind 0x00 and nodes behind 0x01, so a leaf
// can never be passed off as an interior node (second-preimage attack).
const LEAF_PREFIX = Buffer.from([0x00]);

/** MTH({}) = SHA-256 of the empty string. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

export const leafHash = (bytes: Uint8Array): Buffer =>
  createHash('sha256').update(LEAF_PREFIX).update(bytes).digest();

export const nodeHash = (left: Uint8Array, right: Uint8Array): Buffer => {
  // One-shot crypto.hash over a single buffer is markedly faster than a Hash object with three
  // updates, and node hashing dominates proof verification and appends.
  const input = NodeBuffer.allocUnsafe(1 + left.length + right.length);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return digest('sha256', input, 'buffer');
};

// ---------------------------------------------------------------------------------------------
// Tree shape

/** True when [start, start+size) is a perfect subtree of every tree that contains it. */
export const isPerfectSubtree = (start: number, size: number): boolean =>
  isIndex(start) && isPowerOfTwo(size) && start % size === 0;

/** The RFC split point k: the largest power of two strictly smaller than n (n >= 2). */
const splitPoint = (n: number): number => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};

// Arithmetic instead of bitwise operators: JS bit operations truncate to 32 bits.
const isPowerOfTwo = (n: number): boolean => {
  if (!isSafeInteger(n) || n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
};

const isIndex = (n: unknown): n is number => isSafeInteger(n) && (n as number) >= 0;

const requireIndex = (name: string, value: number): void => {
  if (!isIndex(value)) throw new RangeError(`${name} must be a non-negative safe integer, got ${String(value)}`);
};

// ---------------------------------------------------------------------------------------------
// Roots

/** RFC 6962 MTH over already-hashed leaves. O(n): meant for tests, small trees and audits. */
export const rootFromLeafHashes = (leafHashes: readonly Buffer[]): Buffer => {
  if (leafHashes.length === 0) return EMPTY_ROOT;
  const mth = (start: number, size: number): Buffer => {
    if (size === 1) return leafHashes[start]!;
    const k = splitPoint(size);
    return nodeHash(mth(start, k), mth(start + k, size - k));
  };
  return mth(0, leafHashes.length);
};

/** Hash of a perfect aligned subtree (`isPerfectSubtree(start, size)`); size 1 means the leaf hash. */
export type PerfectSubtreeLookup = (start: number, size: number) => Buffer;

/**
 * MTH(D[start:start+size]) from perfect-subtree lookups, splitting per the RFC rule.
 *
 * When start is a multiple of the largest power of two <= size (true of every range the RFC
 * proof algorithms ask for) this costs popcount(size) <= log2(size)+1 lookups and
 * popcount(size)-1 hashes. Other ranges are still answered correctly, but their internal
 * nodes exist in no stored tree, so they cost up to O(size) lookups.
 */
export const rangeHash = (start: number, size: number, perfect: PerfectSubtreeLookup): Buffer => {
  requireIndex('start', start);
  requireIndex('size', size);
  if (!isSafeInteger(start + size)) throw new RangeError(`range [${start}, ${start}+${size}) is too large`);
  if (size === 0) return EMPTY_ROOT;
  const mth = (s: number, n: number): Buffer => {
    if (isPerfectSubtree(s, n)) return checkedHash(perfect(s, n), s, n);
    const k = isPowerOfTwo(n) ? n / 2 : splitPoint(n);
    return nodeHash(mth(s, k), mth(s + k, n - k));
  };
  return mth(start, size);
};

/** A range of leaves [start, start+size): a proof lists the hashes (MTH) of such ranges. */
export interface LeafRange {
  start: number;
  size: number;
}

/**
 * The perfect aligned subtrees whose stored hashes `rangeHash(start, size, …)` reads, left to
 * right: what a store must fetch to hash that range. For the ranges proofs ask for (start a
 * multiple of the largest power of two ≤ size) these are the binary digits of size, at most
 * log2(size)+1 of them.
 */
export const perfectCover = (start: number, size: number): LeafRange[] => {
  requireIndex('start', start);
  requireIndex('size', size);
  if (!isSafeInteger(start + size)) throw new RangeError(`range [${start}, ${start}+${size}) is too large`);
  const cover: LeafRange[] = [];
  const walk = (s: number, n: number): void => {
    if (n === 0) return;
    if (isPerfectSubtree(s, n)) {
      cover.push({ start: s, size: n });
      return;
    }
    const k = isPowerOfTwo(n) ? n / 2 : splitPoint(n);
    walk(s, k);
    walk(s + k, n - k);
  };
  walk(start, size);
  return cover;
};

const checkedHash = (hash: unknown, start: number, size: number): Buffer => {
  // A store returning the wrong thing must fail loudly, not yield a root nobody can reproduce.
  if (!(hash instanceof Bytes) || hash.length !== HASH_SIZE) {
    throw new Error(`subtree hash lookup (${start}, ${size}) returned ${describeValue(hash)}, expected ${HASH_SIZE} bytes`);
  }
  return Buffer.isBuffer(hash) ? hash : Buffer.from(hash);
};

// ---------------------------------------------------------------------------------------------
// Accessors

/**
 * Source of subtree hashes for the proof generators: `hash(start, size)` must return
 * MTH(D[start:start+size]). The generators only ask for nodes of the RFC tree, whose start is
 * a multiple of the smallest power of two >= size, so a store backed by perfect subtrees
 * answers each in O(log n) lookups via `rangeHash` (see `subtreeHashesFromPerfect`).
 */
export interface SubtreeHashes {
  hash(start: number, size: number): Buffer;
}

/** Adapts a perfect-subtree lookup (e.g. a table filled at append time) into `SubtreeHashes`. */
export const subtreeHashesFromPerfect = (perfect: PerfectSubtreeLookup): SubtreeHashes => ({
  hash: (start, size) => rangeHash(start, size, perfect),
});

/** Reference accessor over a plain array of leaf hashes. O(size) per call: tests and tiny trees only. */
export const subtreeHashesFromLeaves = (leafHashes: readonly Buffer[]): SubtreeHashes => ({
  hash: (start, size) => {
    if (!isIndex(start) || !isIndex(size) || start + size > leafHashes.length) {
      throw new RangeError(`range (${start}, ${size}) is outside the ${leafHashes.length} known leaves`);
    }
    return rootFromLeafHashes(leafHashes.slice(start, start + size));
  },
});

/**
 * The perfect aligned subtrees of size >= 2 completed by appending leaf `newLeafIndex`, smallest
 * first so each can be hashed from its two halves. Appending index 3 completes (2,2) then (0,4).
 * The leaf itself, (newLeafIndex, 1), is not listed. Amortised one subtree per append.
 */
export const perfectSubtreesToStore = (newLeafIndex: number): Array<{ start: number; size: number }> => {
  requireIndex('newLeafIndex', newLeafIndex);
  const count = newLeafIndex + 1;
  const completed: Array<{ start: number; size: number }> = [];
  for (let size = 2; count % size === 0; size *= 2) completed.push({ start: count - size, size });
  return completed;
};

// ---------------------------------------------------------------------------------------------
// Inclusion proofs (RFC 9162 s2.1.3)

/**
 * The ranges whose hashes make up PATH(index, D[treeSize]) (RFC 9162 s2.1.3.1), ordered bottom to
 * top: the sibling of the leaf first, the sibling of the root's child last. Pure shape: it does not
 * depend on any hash, so a store can fetch every hash a proof needs at once (`perfectCover`).
 */
export const inclusionProofRanges = (index: number, treeSize: number): LeafRange[] => {
  requireIndex('index', index);
  requireIndex('treeSize', treeSize);
  if (index >= treeSize) throw new RangeError(`leaf index ${index} is not in a tree of size ${treeSize}`);
  const topDown: LeafRange[] = [];
  let start = 0;
  let size = treeSize;
  let m = index;
  while (size > 1) {
    const k = splitPoint(size);
    if (m < k) {
      topDown.push({ start: start + k, size: size - k });
      size = k;
    } else {
      topDown.push({ start, size: k });
      start += k;
      size -= k;
      m -= k;
    }
  }
  return topDown.reverse();
};

/** PATH(index, D[treeSize]) (RFC 9162 s2.1.3.1): one accessor call per level, O(log n) calls. */
export const inclusionProof = (index: number, treeSize: number, hashes: SubtreeHashes): Buffer[] =>
  inclusionProofRanges(index, treeSize).map((r) => hashes.hash(r.start, r.size));

/**
 * RFC 9162 s2.1.3.2, step for step. `leaf` is the leaf's hash (`leafHash(data)`), not its data.
 * Never throws: malformed input (bad sizes, hashes that are not 32 bytes) is simply not a valid
 * proof. The tree size is only bound through `root`, so take (treeSize, root) from the same
 * signed tree head.
 */
export const verifyInclusion = (
  leaf: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean => {
  if (!isIndex(index) || !isIndex(treeSize) || !isHash(leaf) || !isHash(root) || !allHashes(proof)) return false;
  // 1.
  if (index >= treeSize) return false;
  // 2., 3.
  let fn = index;
  let sn = treeSize - 1;
  let r: Uint8Array = leaf;
  // 4.
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // 5.
  return sn === 0 && bytesEqual(r, root);
};

// ---------------------------------------------------------------------------------------------
// Range proofs: a contiguous run of leaves [from, to) against the root of a larger tree

/**
 * The subtrees of MTH(D[treeSize]) that lie wholly outside [from, to), in the left-to-right order
 * of the RFC recursion: with the leaves of the range their hashes are exactly what recomputing the
 * root needs (RFC 9162 style, like a multi-leaf inclusion proof). At most two root-to-leaf paths
 * straddle the range's ends, so there are O(log n) of them however many leaves the range has.
 */
export const rangeProofRanges = (from: number, to: number, treeSize: number): LeafRange[] => {
  requireIndex('from', from);
  requireIndex('to', to);
  requireIndex('treeSize', treeSize);
  if (treeSize === 0 || from > to || to > treeSize) throw new RangeError(`range [${from}, ${to}) is not inside a tree of size ${treeSize}`);
  const ranges: LeafRange[] = [];
  const walk = (start: number, size: number): void => {
    const end = start + size;
    if (end <= from || start >= to) ranges.push({ start, size });
    else if (start < from || end > to) {
      const k = splitPoint(size);
      walk(start, k);
      walk(start + k, size - k);
    }
  };
  walk(0, treeSize);
  return ranges;
};

/** The hashes of `rangeProofRanges(from, to, treeSize)`: a range proof. */
export const rangeProof = (from: number, to: number, treeSize: number, hashes: SubtreeHashes): Buffer[] =>
  rangeProofRanges(from, to, treeSize).map((r) => hashes.hash(r.start, r.size));

/**
 * The root of a tree of `treeSize` leaves whose leaves [from, from + leaves.length) are `leaves`,
 * the rest summarised by `proof` (from `rangeProof`); null when the proof does not fit that shape
 * (too short, too long, malformed). Never throws. The shape is fixed by (from, count, treeSize),
 * so every leaf hash lands at one position only: a root equal to a signed root proves each leaf
 * sits at its index in that tree (a dropped, inserted, swapped or changed leaf changes the root).
 */
export const rootFromRange = (from: number, treeSize: number, leaves: readonly Uint8Array[], proof: readonly Uint8Array[]): Buffer | null => {
  const to = from + leaves.length;
  if (!isIndex(from) || !isIndex(treeSize) || treeSize === 0 || to > treeSize || !allHashes(leaves) || !allHashes(proof)) return null;
  let used = 0;
  const walk = (start: number, size: number): Uint8Array | null => {
    const end = start + size;
    if (end <= from || start >= to) return used < proof.length ? proof[used++]! : null;
    if (start >= from && end <= to) return rootFromLeafHashes(leaves.slice(start - from, end - from).map((h) => Buffer.from(h)));
    const k = splitPoint(size);
    const left = walk(start, k);
    const right = left && walk(start + k, size - k);
    return right && nodeHash(left!, right);
  };
  const root = walk(0, treeSize);
  return root && used === proof.length ? Buffer.from(root) : null;
};

// ---------------------------------------------------------------------------------------------
// Multi-leaf inclusion proofs: any set of leaves against the root of a larger tree, in one proof

/**
 * The subtrees of MTH(D[treeSize]) that hold none of `indices` and whose parent holds one, in the
 * left-to-right order of the RFC recursion: with the leaf hashes at `indices` their hashes are
 * exactly what recomputing the root needs. One proof for a whole page of scattered entries, of
 * O(k log(n/k)) hashes for k leaves, shared paths counted once (k inclusion proofs would repeat
 * them). `indices` must be strictly increasing and inside the tree.
 */
export const multiInclusionProofRanges = (indices: readonly number[], treeSize: number): LeafRange[] => {
  requireIndex('treeSize', treeSize);
  if (!strictlyIncreasingIndices(indices, treeSize)) throw new RangeError(`leaf indices must be strictly increasing and inside a tree of size ${treeSize}`);
  const ranges: LeafRange[] = [];
  // indices[lo, hi) are the wanted leaves inside [start, start + size).
  const walk = (start: number, size: number, lo: number, hi: number): void => {
    if (lo === hi) ranges.push({ start, size });
    else if (size > 1) {
      const k = splitPoint(size);
      const mid = firstAtOrAfter(indices, start + k, lo, hi);
      walk(start, k, lo, mid);
      walk(start + k, size - k, mid, hi);
    }
  };
  if (indices.length) walk(0, treeSize, 0, indices.length);
  return ranges;
};

/** The hashes of `multiInclusionProofRanges(indices, treeSize)`: a multi-leaf inclusion proof. */
export const multiInclusionProof = (indices: readonly number[], treeSize: number, hashes: SubtreeHashes): Buffer[] =>
  multiInclusionProofRanges(indices, treeSize).map((r) => hashes.hash(r.start, r.size));

/**
 * The root of a tree of `treeSize` leaves holding `leaves[i]` at `indices[i]`, the rest summarised
 * by `proof` (from `multiInclusionProof`); null when the input does not fit that shape (indices not
 * strictly increasing or outside the tree, a proof too short or too long, a malformed hash). Never
 * throws. As with `rootFromRange`, the shape is fixed by (indices, treeSize), so a root equal to a
 * signed root proves every leaf sits at its index in that tree.
 */
export const rootFromLeaves = (indices: readonly number[], leaves: readonly Uint8Array[], treeSize: number, proof: readonly Uint8Array[]): Buffer | null => {
  if (!isIndex(treeSize) || treeSize === 0 || !isArray(indices) || !isArray(leaves) || indices.length === 0 || indices.length !== leaves.length) return null;
  if (!strictlyIncreasingIndices(indices, treeSize) || !allHashes(leaves) || !allHashes(proof)) return null;
  let used = 0;
  const walk = (start: number, size: number, lo: number, hi: number): Uint8Array | null => {
    if (lo === hi) return used < proof.length ? proof[used++]! : null;
    if (size === 1) return leaves[lo]!;
    const k = splitPoint(size);
    const mid = firstAtOrAfter(indices, start + k, lo, hi);
    const left = walk(start, k, lo, mid);
    const right = left && walk(start + k, size - k, mid, hi);
    return right && nodeHash(left!, right);
  };
  const root = walk(0, treeSize, 0, indices.length);
  return root && used === proof.length ? Buffer.from(root) : null;
};

const strictlyIncreasingIndices = (indices: readonly number[], treeSize: number): boolean => {
  if (!isArray(indices)) return false;
  let previous = -1;
  for (const i of indices) {
    if (!isIndex(i) || i <= previous || i >= treeSize) return false;
    previous = i;
  }
  return true;
};

/** The first position in sorted[lo, hi) whose value is >= bound (hi when none): binary search. */
const firstAtOrAfter = (sorted: readonly number[], bound: number, lo: number, hi: number): number => {
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (sorted[mid]! < bound) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};

// ---------------------------------------------------------------------------------------------
// Consistency proofs (RFC 9162 s2.1.4)

/**
 * The ranges whose hashes make up PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162 s2.1.4.1),
 * for 0 < m <= n. m == n yields the empty proof. m == 0 throws: the empty tree commits to nothing,
 * so there is nothing to prove (RFC 9162 only defines proofs for 0 < m). Pure shape, like
 * `inclusionProofRanges`.
 */
export const consistencyProofRanges = (m: number, n: number): LeafRange[] => {
  requireIndex('m', m);
  requireIndex('n', n);
  if (m === 0) throw new RangeError('no consistency proof exists from the empty tree (m must be > 0)');
  if (m > n) throw new RangeError(`old tree size ${m} is larger than new tree size ${n}`);
  const topDown: LeafRange[] = [];
  let start = 0;
  let size = n;
  let sub = m;
  let b = true; // false once we have stepped right: the old subtree root is no longer known to the verifier
  while (sub !== size) {
    const k = splitPoint(size);
    if (sub <= k) {
      topDown.push({ start: start + k, size: size - k });
      size = k;
    } else {
      topDown.push({ start, size: k });
      start += k;
      size -= k;
      sub -= k;
      b = false;
    }
  }
  if (!b) topDown.push({ start, size });
  // SUBPROOF appends each level's sibling after the deeper result, so output is the reverse walk.
  return topDown.reverse();
};

/** PROOF(m, D[n]) (RFC 9162 s2.1.4.1): the hashes of `consistencyProofRanges(m, n)`. */
export const consistencyProof = (m: number, n: number, hashes: SubtreeHashes): Buffer[] =>
  consistencyProofRanges(m, n).map((r) => hashes.hash(r.start, r.size));

/**
 * RFC 9162 s2.1.4.2, step for step, for 0 < m < n. Outside that range: m == n is valid iff the
 * proof is empty and the roots are equal; m == 0 or m > n is always rejected. Never throws.
 */
export const verifyConsistency = (
  m: number,
  n: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean => {
  if (!isIndex(m) || !isIndex(n) || !isHash(oldRoot) || !isHash(newRoot) || !allHashes(proof)) return false;
  if (m === 0 || m > n) return false;
  if (m === n) return proof.length === 0 && bytesEqual(oldRoot, newRoot);
  // 1.
  if (proof.length === 0) return false;
  // 2.
  const path = isPowerOfTwo(m) ? [oldRoot, ...proof] : [...proof];
  // 3.
  let fn = m - 1;
  let sn = n - 1;
  // 4.
  while (fn % 2 === 1) {
    fn = half(fn);
    sn = half(sn);
  }
  // 5.
  let fr: Uint8Array = path[0]!;
  let sr: Uint8Array = fr;
  // 6.
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // 7.
  return bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot) && sn === 0;
};

const half = (x: number): number => (x - (x % 2)) / 2;

const isHash = (h: unknown): h is Uint8Array => h instanceof Bytes && h.length === HASH_SIZE;
// Proofs and roots are public, so a plain (non-constant-time) comparison leaks nothing.
const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};
const allHashes = (proof: unknown): proof is readonly Uint8Array[] => {
  if (!isArray(proof)) return false;
  for (const h of proof) if (!isHash(h)) return false;
  return true;
};

// ---------------------------------------------------------------------------------------------
// In-memory store

/**
 * Append-only tree holding every perfect aligned subtree hash (about 2n hashes), the in-memory
 * twin of what a database-backed store persists. Append costs amortised O(1) hashes (worst
 * O(log n)); any root is O(log n) lookups; a proof O(log^2 n) lookups at most.
 *
 * Unlike CT's frontier-only "compact" tree it keeps interior nodes, because it must serve proofs.
 */
export class MemorySubtreeStore implements SubtreeHashes {
  /** levels[h][j] = hash of the perfect subtree (j * 2^h, 2^h); levels[0] are the leaf hashes. */
  private readonly levels: Buffer[][] = [[]];
  private readonly perfectLookup: PerfectSubtreeLookup = (start, size) => this.perfect(start, size);

  /** Number of leaves appended. */
  get size(): number {
    return this.levels[0]!.length;
  }

  /** Appends an already-computed leaf hash; returns its index. */
  appendLeafHash(hash: Uint8Array): number {
    if (!isHash(hash)) throw new TypeError(`leaf hash must be ${HASH_SIZE} bytes, got ${describeValue(hash)}`);
    const index = this.size;
    this.levels[0]!.push(Buffer.from(hash)); // copy: the caller may reuse its buffer
    for (const { start, size } of perfectSubtreesToStore(index)) {
      const level = log2(size);
      const below = this.levels[level - 1]!;
      const j = start / size;
      (this.levels[level] ??= []).push(nodeHash(below[2 * j]!, below[2 * j + 1]!));
    }
    return index;
  }

  /** Hashes `data` as a leaf and appends it; returns its index. */
  append(data: Uint8Array): number {
    return this.appendLeafHash(leafHash(data));
  }

  /** The stored hash of a perfect aligned subtree: the only lookup the rest is built from. */
  perfect(start: number, size: number): Buffer {
    if (!isPerfectSubtree(start, size)) throw new RangeError(`(${start}, ${size}) is not a perfect aligned subtree`);
    const hash = this.levels[log2(size)]?.[start / size];
    if (!hash) throw new RangeError(`subtree (${start}, ${size}) is not complete in a tree of size ${this.size}`);
    return hash;
  }

  /** MTH of the leaves [start, start+size). */
  hash(start: number, size: number): Buffer {
    requireIndex('start', start);
    requireIndex('size', size);
    this.requireWithin(start + size);
    return rangeHash(start, size, this.perfectLookup);
  }

  root(): Buffer {
    return this.rootAt(this.size);
  }

  /** Root of the tree as it was when it had `treeSize` leaves. */
  rootAt(treeSize: number): Buffer {
    return this.hash(0, treeSize);
  }

  inclusionProof(index: number, treeSize: number = this.size): Buffer[] {
    this.requireWithin(treeSize);
    return inclusionProof(index, treeSize, this);
  }

  consistencyProof(m: number, n: number = this.size): Buffer[] {
    this.requireWithin(n);
    return consistencyProof(m, n, this);
  }

  private requireWithin(treeSize: number): void {
    requireIndex('tree size', treeSize);
    if (treeSize > this.size) throw new RangeError(`tree size ${treeSize} exceeds the ${this.size} leaves appended`);
  }
}

/** Alias: the name used in CT literature for an append-only in-memory Merkle tree. */
export const CompactMerkleTree = MemorySubtreeStore;
export type CompactMerkleTree = MemorySubtreeStore;

const log2 = (powerOfTwo: number): number => {
  let h = 0;
  for (let s = powerOfTwo; s > 1; s /= 2) h++;
  return h;
};

// ---------------------------------------------------------------------------------------------
// Hex

export const toHex = (buf: Uint8Array): string => Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('hex');

/** Parses a 32-byte hash written as 64 hex characters (either case); anything else throws. */
export const fromHex = (str: string): Buffer => {
  if (typeof str !== 'string' || !/^[0-9a-fA-F]{64}$/.test(str)) {
    throw new Error(`invalid hash ${describeValue(str)}: expected 64 hex characters (a 32-byte SHA-256)`);
  }
  return Buffer.from(str, 'hex');
};

const describeValue = (value: unknown): string => {
  if (typeof value === 'string') {
    const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
    return `${JSON.stringify(shown)} (${value.length} chars)`;
  }
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  return value === null ? 'null' : typeof value;
};
