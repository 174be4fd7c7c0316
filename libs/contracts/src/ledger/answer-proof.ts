import { checkHeadSignature, LedgerKey, trustedKeys } from './key-history.js';
import { envelopeLeafHash } from './leaf.js';
import { fromHex, rootFromLeaves, verifyInclusion } from './merkle.js';
import type { SignedTreeHead } from './tree-head.js';

/**
 * A reader's check that what the audit service answered is what its ledger holds (pure). The
 * service, its database or whoever answers in its name is not trusted: a signed tree head is
 * checked with keys the reader pinned (or keys a pinned key attested through the ledger's key
 * history), and every entry relied on is hashed again from its envelope and proven, with one
 * multi-leaf inclusion proof per page, to sit at its log index in that head's tree.
 */

/** One page's proof as `GET /audit/events?treeSize=` serves it: the subtree hashes completing the page's leaves to the root. */
export interface EntriesProof {
  treeSize: number;
  hashes: string[];
}

/** An entry as served: its position, the leaf hash the service lists and the envelope itself. */
export interface ServedEntry {
  logIndex: number;
  leafHash?: string;
  envelope: unknown;
}

export type LedgerAnswerVerdict = { ok: true; detail: string } | { ok: false; check: 'tree-head' | 'leaf-hash' | 'inclusion'; detail: string; logIndices: number[] };

const short = (keyId: string) => `${keyId.slice(0, 16)}…`;

/**
 * The head must be signed by a trusted key: one pinned, or one that a trusted key attested (the
 * history itself comes from the service and is believed only through those attestations). A
 * legacy key with no public key never makes a head trusted here.
 */
export const verifyHeadWithPinnedKeys = (head: SignedTreeHead, pinnedPems: readonly string[], history: readonly LedgerKey[]): LedgerAnswerVerdict => {
  if (!isHead(head)) return { ok: false, check: 'tree-head', detail: 'the signed tree head is malformed', logIndices: [] };
  const { keys } = trustedKeys(pinnedPems, Array.isArray(history) ? history : []);
  if (!keys.some((k) => k.publicKeyPem)) return { ok: false, check: 'tree-head', detail: 'no pinned public key could be read', logIndices: [] };
  const verdict = checkHeadSignature(head, new Map(keys.map((k) => [k.keyId, k])));
  if (verdict.ok && verdict.verified) return { ok: true, detail: `tree head ${head.treeSize} (root ${head.rootHash.slice(0, 16)}…, ${head.timestamp}) is signed by trusted key ${short(head.keyId)}` };
  const why = verdict.ok ? verdict.detail : verdict.kind === 'unknown-key' ? `its key ${short(head.keyId)} is neither pinned nor attested by a pinned key` : verdict.detail;
  return { ok: false, check: 'tree-head', detail: `tree head ${head.treeSize} is not signed by a trusted key: ${why}`, logIndices: [] };
};

/**
 * A page of entries against a head already checked (`verifyHeadWithPinnedKeys`): each leaf hash is
 * recomputed from its envelope (an envelope that does not hash to its listed leaf hash is named),
 * then the recomputed leaves with the page's proof must give the head's root. A changed, moved or
 * invented entry changes the root; the service cannot answer a proof that hides it.
 */
export const verifyEntriesInHead = (entries: readonly ServedEntry[], proof: EntriesProof | null | undefined, head: SignedTreeHead): LedgerAnswerVerdict => {
  if (!Array.isArray(entries)) return { ok: false, check: 'inclusion', detail: 'the answer holds no list of entries', logIndices: [] };
  if (entries.length === 0) return { ok: true, detail: 'no entries to prove' };
  const indices = entries.map((e) => e?.logIndex);
  let leaves: Buffer[];
  try {
    leaves = entries.map((e) => envelopeLeafHash(e.envelope));
  } catch {
    return { ok: false, check: 'leaf-hash', detail: 'an entry has no envelope that can be hashed', logIndices: indices.filter(Number.isSafeInteger) };
  }
  const changed = entries.filter((e, i) => e.leafHash !== undefined && e.leafHash !== leaves[i]!.toString('hex')).map((e) => e.logIndex);
  if (changed.length) {
    return { ok: false, check: 'leaf-hash', detail: `entries at log index ${changed.join(', ')} do not hash to the leaf hashes the ledger lists for them: their envelopes were changed`, logIndices: changed };
  }
  const range = `entries at log index ${indices[0]}…${indices[indices.length - 1]} (${entries.length})`;
  if (!proof || proof.treeSize !== head.treeSize || !Array.isArray(proof.hashes)) {
    return { ok: false, check: 'inclusion', detail: `${range} come without a proof against tree head ${head.treeSize} (proof for ${String(proof?.treeSize ?? 'none')})`, logIndices: [] };
  }
  let root: Buffer | null;
  try {
    root = rootFromLeaves(indices, leaves, head.treeSize, proof.hashes.map(fromHex));
  } catch {
    root = null; // a malformed hash: no root
  }
  if (root && root.equals(fromHex(head.rootHash))) return { ok: true, detail: `${range} are included in tree head ${head.treeSize}` };
  return {
    ok: false,
    check: 'inclusion',
    detail: `${range}, hashed from their envelopes, are NOT included in signed tree head ${head.treeSize}: one of them was changed, moved or never recorded`,
    logIndices: indices.filter(Number.isSafeInteger),
  };
};

/**
 * One entry against a head already checked, with its own inclusion proof (hex hashes): its leaf
 * hash recomputed from its envelope. How a reader names which entries of a page that did not prove
 * are not in the tree. False on any malformed input.
 */
export const entryInHead = (entry: ServedEntry, proof: unknown, head: SignedTreeHead): boolean => {
  try {
    if (!Array.isArray(proof)) return false;
    return verifyInclusion(envelopeLeafHash(entry.envelope), entry.logIndex, head.treeSize, proof.map((h) => fromHex(h as string)), fromHex(head.rootHash));
  } catch {
    return false;
  }
};

const isHead = (h: unknown): h is SignedTreeHead => {
  const head = h as SignedTreeHead;
  return (
    typeof head === 'object' &&
    head !== null &&
    Number.isSafeInteger(head.treeSize) &&
    head.treeSize > 0 &&
    typeof head.rootHash === 'string' &&
    /^[0-9a-f]{64}$/.test(head.rootHash) &&
    typeof head.timestamp === 'string' &&
    typeof head.signature === 'string' &&
    typeof head.keyId === 'string'
  );
};
