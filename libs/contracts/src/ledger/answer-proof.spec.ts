import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { anEvent } from '../testing.js';
import { entryInHead, verifyEntriesInHead, verifyHeadWithPinnedKeys } from './answer-proof.js';
import type { LedgerKey } from './key-history.js';
import { envelopeLeafHash } from './leaf.js';
import { inclusionProof, leafHash, MemorySubtreeStore, multiInclusionProof, multiInclusionProofRanges, rootFromLeaves, toHex } from './merkle.js';
import { attestKey, keyIdOf, publicKeyPem, signTreeHead } from './tree-head.js';

const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));

describe('multi-leaf inclusion proofs', () => {
  it('recompute the root from any set of leaves, at every tree size and index set tried', () => {
    for (const n of [1, 2, 3, 5, 8, 13, 64, 100]) {
      const all = leaves(n);
      const tree = new MemorySubtreeStore();
      for (const h of all) tree.appendLeafHash(h);
      const sets = [[0], [n - 1], Array.from({ length: n }, (_, i) => i), Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 === 1)].filter((s) => s.length);
      for (const indices of sets) {
        const proof = multiInclusionProof(indices, n, tree);
        expect(rootFromLeaves(indices, indices.map((i) => all[i]!), n, proof)?.equals(tree.root())).toBe(true);
      }
    }
  });

  it('share paths: one proof for scattered leaves is far smaller than one inclusion proof each', () => {
    const indices = Array.from({ length: 1000 }, (_, i) => i * 97 + 5);
    const ranges = multiInclusionProofRanges(indices, 100_000);
    expect(ranges.length).toBeLessThan(1000 * 7); // 1000 single proofs: 1000 * 17 hashes
  });

  it('refuse a changed, moved, dropped or extra leaf, a short or long proof, bad indices', () => {
    const all = leaves(50);
    const tree = new MemorySubtreeStore();
    for (const h of all) tree.appendLeafHash(h);
    const indices = [3, 17, 18, 40];
    const proof = multiInclusionProof(indices, 50, tree);
    const root = tree.root();
    const ok = (idx: number[], ls: Buffer[], p: Buffer[], size = 50) => rootFromLeaves(idx, ls, size, p)?.equals(root) ?? false;
    const mine = indices.map((i) => all[i]!);
    expect(ok(indices, mine, proof)).toBe(true);
    expect(ok(indices, [mine[0]!, leafHash(Buffer.from('forged')), mine[2]!, mine[3]!], proof)).toBe(false);
    expect(ok([3, 17, 19, 40], mine, proof)).toBe(false); // moved
    expect(ok([3, 17, 40], [mine[0]!, mine[1]!, mine[3]!], proof)).toBe(false); // dropped
    expect(ok(indices, mine, proof.slice(1))).toBe(false);
    expect(ok(indices, mine, [...proof, proof[0]!])).toBe(false);
    // The tree size is bound only through the signed root (a head signs both): hence verifyEntriesInHead takes them from one head.
    expect(rootFromLeaves([17, 3], [mine[1]!, mine[0]!], 50, proof)).toBeNull(); // not increasing
    expect(rootFromLeaves([3, 3], [mine[0]!, mine[0]!], 50, proof)).toBeNull();
    expect(rootFromLeaves([50], [mine[0]!], 50, proof)).toBeNull();
    expect(rootFromLeaves([], [], 50, proof)).toBeNull();
    expect(rootFromLeaves(indices, mine, 50, [Buffer.alloc(3)])).toBeNull();
    expect(() => multiInclusionProofRanges([5, 2], 10)).toThrow(RangeError);
  });
});

describe('a ledger answer checked against pinned keys', () => {
  const key = generateKeyPairSync('ed25519').privateKey;
  const other = generateKeyPairSync('ed25519').privateKey;
  const history = (k = key): LedgerKey[] => [
    { keyId: keyIdOf(createPublicKey(k)), publicKeyPem: publicKeyPem(k), firstUsedAt: '', introducedAtTreeSize: 0, previousKeyId: null, attestation: null, legacyThroughTreeSize: null },
  ];

  const ledger = (n: number) => {
    const envelopes = Array.from({ length: n }, () => anEvent('BackupCreated'));
    const tree = new MemorySubtreeStore();
    for (const e of envelopes) tree.appendLeafHash(envelopeLeafHash(e));
    const head = signTreeHead({ treeSize: n, rootHash: toHex(tree.root()), timestamp: '2026-12-01T10:00:00.000Z' }, key);
    const single = (i: number) => inclusionProof(i, n, tree).map(toHex);
    const page = (indices: number[]) => ({
      entries: indices.map((i) => ({ logIndex: i, leafHash: envelopeLeafHash(envelopes[i]).toString('hex'), envelope: envelopes[i] as unknown })),
      proof: { treeSize: n, hashes: multiInclusionProof(indices, n, tree).map(toHex) },
    });
    return { envelopes, head, page, single };
  };

  it('an honest page proves in the head, which the pinned key signed', () => {
    const { head, page } = ledger(20);
    expect(verifyHeadWithPinnedKeys(head, [publicKeyPem(key)], history())).toMatchObject({ ok: true });
    const { entries, proof } = page([1, 4, 19]);
    expect(verifyEntriesInHead(entries, proof, head)).toMatchObject({ ok: true });
    expect(verifyEntriesInHead([], undefined, head)).toMatchObject({ ok: true });
  });

  it('a head signed by a key not pinned (even one the answer lists in its history) is refused', () => {
    const { head } = ledger(5);
    const forged = signTreeHead({ treeSize: head.treeSize, rootHash: head.rootHash, timestamp: head.timestamp }, other);
    const verdict = verifyHeadWithPinnedKeys(forged, [publicKeyPem(key)], [...history(), ...history(other)]);
    expect(verdict).toMatchObject({ ok: false, check: 'tree-head' });
    expect(verdict.detail).toContain('neither pinned nor attested');
    expect(verifyHeadWithPinnedKeys({ ...head, rootHash: '00'.repeat(32) }, [publicKeyPem(key)], history())).toMatchObject({ ok: false, check: 'tree-head' });
    expect(verifyHeadWithPinnedKeys(head, ['not a key'], history())).toMatchObject({ ok: false, check: 'tree-head' });
  });

  it('a key the pinned key attested is trusted through the history; an unattested successor is not', () => {
    const { head } = ledger(5);
    const next = generateKeyPairSync('ed25519').privateKey;
    const byNext = signTreeHead({ treeSize: head.treeSize, rootHash: head.rootHash, timestamp: head.timestamp }, next);
    const successor = { ...history(next)[0]!, previousKeyId: keyIdOf(createPublicKey(key)), attestation: attestKey(publicKeyPem(next), key) };
    expect(verifyHeadWithPinnedKeys(byNext, [publicKeyPem(key)], [...history(), successor])).toMatchObject({ ok: true });
    expect(verifyHeadWithPinnedKeys(byNext, [publicKeyPem(key)], [...history(), { ...successor, attestation: attestKey(publicKeyPem(next), other) }])).toMatchObject({ ok: false });
  });

  it('a forged envelope is named, whether or not the answer also forged its leaf hash', () => {
    const { head, page, single } = ledger(20);
    const { entries, proof } = page([2, 7, 11]);
    const forged = { ...(entries[1]!.envelope as Record<string, unknown>), data: { forged: true } };
    const keptHash = entries.map((e, i) => (i === 1 ? { ...e, envelope: forged } : e));
    expect(verifyEntriesInHead(keptHash, proof, head)).toMatchObject({ ok: false, check: 'leaf-hash', logIndices: [7] });
    const rehashed = entries.map((e, i) => (i === 1 ? { ...e, envelope: forged, leafHash: envelopeLeafHash(forged).toString('hex') } : e));
    const verdict = verifyEntriesInHead(rehashed, proof, head);
    expect(verdict).toMatchObject({ ok: false, check: 'inclusion' });
    // Each entry proven alone names the forged one.
    expect(rehashed.map((e) => entryInHead(e, single(e.logIndex), head))).toEqual([true, false, true]);
    expect(entryInHead(entries[0]!, single(3), head)).toBe(false);
    expect(entryInHead(entries[0]!, 'not a proof', head)).toBe(false);
    expect(entryInHead(entries[0]!, ['zz'], head)).toBe(false);
    expect(verdict.detail).toContain('NOT included in signed tree head 20');
    // Moved (claimed at another index), proven against another size, or without a proof: refused.
    expect(verifyEntriesInHead(entries.map((e, i) => (i === 1 ? { ...e, logIndex: 8 } : e)), proof, head)).toMatchObject({ ok: false, check: 'inclusion' });
    expect(verifyEntriesInHead(entries, { ...proof, treeSize: 19 }, head)).toMatchObject({ ok: false, check: 'inclusion' });
    expect(verifyEntriesInHead(entries, undefined, head)).toMatchObject({ ok: false, check: 'inclusion' });
  });
});
