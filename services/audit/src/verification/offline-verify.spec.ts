import { generateKeyPairSync } from 'node:crypto';
import { anEvent } from '@continuity/contracts/testing';
import { envelopeLeafHash, keyIdOf, MemorySubtreeStore, publicKeyPem, rangeProof, signTreeHead, toHex } from '@continuity/contracts/ledger';
import { EXPORT_FORMAT, LedgerExport, verifyOffline } from './offline-verify.js';

// An attacker holding an honest export (and the service's signed head, which they cannot forge)
// edits the export so it still looks consistent: every such edit must be refused.

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const pem = publicKeyPem(privateKey);
const SIZE = 16;
const envelopes = Array.from({ length: SIZE }, (_, i) => anEvent('BackupCreated', { resource: `db-${i % 3}` }));
const store = new MemorySubtreeStore();
for (const e of envelopes) store.appendLeafHash(envelopeLeafHash(e));
const head = signTreeHead({ treeSize: SIZE, rootHash: toHex(store.root()), timestamp: '2026-01-01T00:00:00.000Z' }, privateKey);
const earlierHead = signTreeHead({ treeSize: 6, rootHash: toHex(store.rootAt(6)), timestamp: '2025-12-31T00:00:00.000Z' }, privateKey);

const entry = (envelope: unknown, logIndex: number) => ({ logIndex, leafHash: envelopeLeafHash(envelope).toString('hex'), envelope });

/** What `GET /audit/export?from=&to=` serves for [from, to). */
const exportOf = (from: number, to: number, withProof = true): LedgerExport => ({
  format: EXPORT_FORMAT,
  from,
  to,
  signedHead: head,
  signedHeads: [earlierHead, head].filter((h) => h.treeSize > from && h.treeSize <= to),
  publicKeyPem: pem,
  entries: envelopes.slice(from, to).map((e, i) => entry(e, from + i)),
  ...(withProof && !(from === 0 && to === SIZE) ? { rangeProof: { treeSize: SIZE, hashes: rangeProof(from, to, SIZE, store).map(toHex) } } : {}),
});

/** Renumbers entries 0, 1, … from `from` with their leaf hashes recomputed: a consistent-looking edit. */
const fixUp = (exp: LedgerExport, envelopesInOrder: unknown[]): LedgerExport => ({
  ...exp,
  to: exp.from + envelopesInOrder.length,
  entries: envelopesInOrder.map((e, i) => entry(e, exp.from + i)),
});

const run = (exported: LedgerExport) => {
  const checks = verifyOffline({ exported, publicKeyPems: [pem] });
  return { ok: checks.every((c) => c.ok), text: checks.map((c) => `${c.ok ? '✓' : '✗'} ${c.what}`).join('\n') };
};

describe('offline verification of exports', () => {
  it('verifies a complete export by rebuilding the tree, and a partial one only with its range proof', () => {
    expect(keyIdOf(publicKey)).toBe(head.keyId);
    expect(run(exportOf(0, SIZE))).toMatchObject({ ok: true, text: expect.stringContaining(`root recomputed from ${SIZE} exported entries equals the signed root`) });
    for (const [from, to] of [[0, 10], [3, 9], [5, SIZE], [0, 0], [7, 8]] as const) {
      const result = run(exportOf(from, to));
      expect(result).toMatchObject({ ok: true });
      if (to > from) expect(result.text).toContain(`entries ${from}…${to - 1}`);
    }
  });

  it('refuses a truncated tail without a range proof, and verifies it with one', () => {
    const truncated = exportOf(0, 12, false);
    const refused = run(truncated);
    expect(refused.ok).toBe(false);
    expect(refused.text).toContain('carries no range proof: refused');
    expect(run(exportOf(0, 12))).toMatchObject({ ok: true });
  });

  it('refuses an entry dropped from the middle with the rest renumbered and rehashed', () => {
    const honest = exportOf(0, SIZE);
    const dropped = fixUp(honest, [...envelopes.slice(0, 7), ...envelopes.slice(8)]);
    // As a "partial" export of 15 entries without proof…
    expect(run(dropped)).toMatchObject({ ok: false, text: expect.stringContaining('carries no range proof') });
    // …with the honest proof for 15 entries (an attacker can get one)…
    expect(run({ ...dropped, rangeProof: { treeSize: SIZE, hashes: rangeProof(0, SIZE - 1, SIZE, store).map(toHex) } })).toMatchObject({
      ok: false,
      text: expect.stringContaining('do NOT give the signed root'),
    });
    // …or claiming to be complete.
    expect(run({ ...dropped, to: SIZE })).toMatchObject({ ok: false, text: expect.stringContaining('not the log indices it claims') });
    // A dropped entry in a partial range with its proof, renumbered.
    const page = exportOf(4, 12);
    expect(run(fixUp(page, [...envelopes.slice(4, 7), ...envelopes.slice(8, 12)]))).toMatchObject({ ok: false });
  });

  it('refuses two entries swapped, renumbered and rehashed, in a complete or a partial export', () => {
    const swap = (list: unknown[], a: number, b: number) => list.map((e, i) => (i === a ? list[b] : i === b ? list[a] : e));
    expect(run(fixUp(exportOf(0, SIZE), swap(envelopes, 3, 4)))).toMatchObject({ ok: false, text: expect.stringContaining('root-mismatch') });
    expect(run(fixUp(exportOf(2, 10), swap(envelopes.slice(2, 10), 1, 5)))).toMatchObject({ ok: false, text: expect.stringContaining('do NOT give the signed root') });
  });

  it('refuses an edited envelope whose leaf hash was recomputed to match', () => {
    const edit = (exp: LedgerExport) => {
      const copy = structuredClone(exp);
      const victim = copy.entries[2]!;
      (victim.envelope as { source: string }).source = 'mallory';
      victim.leafHash = envelopeLeafHash(victim.envelope).toString('hex');
      return copy;
    };
    expect(run(edit(exportOf(0, SIZE)))).toMatchObject({ ok: false });
    expect(run(edit(exportOf(3, 11)))).toMatchObject({ ok: false, text: expect.stringContaining('do NOT give the signed root') });
    // Editing the envelope but not its leaf hash is named as such.
    const lazy = structuredClone(exportOf(3, 11));
    (lazy.entries[1]!.envelope as { source: string }).source = 'mallory';
    expect(run(lazy).text).toContain('changed: entries 4 do not hash');
  });

  it('refuses entries shifted to other indices, a proof for another tree size, and garbage in the proof', () => {
    const page = exportOf(4, 9);
    expect(run({ ...page, from: 5, to: 10, entries: page.entries.map((e) => ({ ...e, logIndex: e.logIndex + 1 })) })).toMatchObject({ ok: false });
    expect(run({ ...page, rangeProof: { treeSize: SIZE - 1, hashes: page.rangeProof!.hashes } })).toMatchObject({ ok: false, text: expect.stringContaining('range proof is for tree size 15') });
    expect(run({ ...page, rangeProof: { treeSize: SIZE, hashes: ['zz'] } })).toMatchObject({ ok: false });
    expect(run({ ...page, entries: page.entries.slice(1) })).toMatchObject({ ok: false, text: expect.stringContaining('not the log indices it claims') });
  });
});
