import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  MemorySubtreeStore,
  nodeHash,
  rootFromLeafHashes,
  subtreeHashesFromLeaves,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js';
import { CT_CONSISTENCY, CT_EMPTY_ROOT, CT_INCLUSION, CT_LEAVES, CT_ROOTS, flipByte, hex, hexes, pathShape, proofShape, reference, refLeaf, sameHashes, sha256, withInserted, without } from '../testing/merkle-reference.js';

// The module checked against an independent transcription of RFC 6962 and CT's published vectors.

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
