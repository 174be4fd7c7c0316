import { checkHeadSignature, envelopeLeafHash, fromHex, keyIdOfPem, LedgerKey, pinnedKey, rootFromRange, SignedTreeHead, trustedKeys as trustedLedgerKeys, verifyConsistency, verifyInclusion } from '@continuity/contracts/ledger';
import { describeFinding, Finding, LedgerAuditor } from '../integrity/ledger-audit.js';

/**
 * /3 adds `rangeProof` to a partial export (not from 0 to the head's size) and `next`; /2 added every
 * key the ledger used and every signed head. /1 and /2 exports still verify when complete: a
 * partial one carries no proof, so it is refused.
 */
export const EXPORT_FORMAT = 'continuity-audit-export/3';
const EXPORT_FORMATS = [EXPORT_FORMAT, 'continuity-audit-export/2', 'continuity-audit-export/1'];

/** The subtree hashes that, with the exported range's leaves, give the root of `treeSize` entries (see `rangeProof`). */
export interface RangeProof {
  treeSize: number;
  hashes: string[];
}

export interface LedgerExport {
  format: string;
  from: number;
  to: number;
  /** The latest signed head: the root the exported entries are checked against. */
  signedHead: SignedTreeHead | null;
  /** Every signed head up to `signedHead`, each naming the key that signed it. */
  signedHeads?: SignedTreeHead[];
  /** The exporting instance's key. */
  publicKeyPem: string;
  /** The ledger's key history: every key that signed a head. */
  publicKeys?: LedgerKey[];
  entries: { logIndex: number; leafHash: string; envelope: unknown }[];
  /** Present when the export is partial: proves the entries sit at their indices in `signedHead`'s tree. */
  rangeProof?: RangeProof;
  /** The next page when the export was capped (`GET /audit/export?from=&to=`). */
  next?: { from: number; to: number } | null;
}

/** `GET /audit/events/{id}` as served: the entry, its inclusion proof and the head it is against. */
export interface InclusionEvidence {
  logIndex: number;
  leafHash: string;
  envelope?: unknown;
  inclusion: { treeSize: number; proof: string[] } | null;
  signedHead: SignedTreeHead | null;
}

export interface ConsistencyEvidence {
  from: number;
  to: number;
  proof: string[];
}

export interface Check {
  ok: boolean;
  what: string;
}

export interface VerifyInput {
  exported?: LedgerExport;
  /**
   * Keys obtained out of band; without them the export's own keys are used (and said so). A key the
   * export introduces is trusted too when the key before it, already trusted, attested it.
   */
  publicKeyPems?: string[];
  /** A head obtained out of band; defaults to the export's. */
  head?: SignedTreeHead;
  inclusion?: InclusionEvidence;
  consistency?: { evidence: ConsistencyEvidence; oldHead: SignedTreeHead };
}

const short = (keyId: string) => `${keyId.slice(0, 16)}…`;

const exportedKeys = (exp: LedgerExport | undefined): LedgerKey[] => {
  if (!exp) return [];
  if (exp.publicKeys?.length) return exp.publicKeys;
  const keyId = exp.publicKeyPem ? keyIdOfPem(exp.publicKeyPem) : null;
  return keyId ? [pinnedKey(exp.publicKeyPem, keyId)] : [];
};

/** The keys heads are checked against, with a line saying where they came from. */
const trustedKeys = (input: VerifyInput, checks: Check[]): LedgerKey[] => {
  const exported = exportedKeys(input.exported);
  if (!input.publicKeyPems?.length) {
    if (exported.length) checks.push({ ok: true, what: 'using the public keys inside the export (pass --public-key to check them against keys you obtained separately)' });
    return exported;
  }
  // A key the export introduces is as good as the trusted key that attested it, and so on down the chain.
  const { keys, notes } = trustedLedgerKeys(input.publicKeyPems, exported);
  checks.push(...notes);
  return keys;
};

const SIGNATURE_FINDINGS: Finding['kind'][] = ['bad-signature', 'unknown-key'];

/**
 * Everything an auditor can check without the service or its database: each head's signature with
 * the key it names, the root recomputed from the exported entries (and every exported head matched
 * to them), each entry's leaf hash, and inclusion or consistency proofs. Returns one line per
 * check; the verification passed when every line is ok.
 */
export const verifyOffline = (input: VerifyInput): Check[] => {
  const checks: Check[] = [];
  const keys = trustedKeys(input, checks);
  if (!keys.some((k) => k.publicKeyPem)) return [...checks, { ok: false, what: 'no public key: pass --public-key or an export that carries one' }];
  const byId = new Map(keys.map((k) => [k.keyId, k]));
  const head = input.head ?? input.exported?.signedHead ?? input.inclusion?.signedHead ?? null;
  if (!head) return [...checks, { ok: false, what: 'no signed tree head: pass --head or an export that carries one' }];
  checks.push(signatureCheck(`tree head ${head.treeSize} (root ${head.rootHash}, ${head.timestamp})`, head, byId));

  if (input.exported) checks.push(...exportChecks(input.exported, head, keys));
  if (input.inclusion) {
    const ev = input.inclusion;
    if (ev.envelope !== undefined) {
      const leafOk = envelopeLeafHash(ev.envelope).toString('hex') === ev.leafHash;
      checks.push({ ok: leafOk, what: `entry ${ev.logIndex}'s envelope ${leafOk ? 'hashes' : 'does NOT hash'} to its leaf hash` });
    }
    if (!ev.inclusion || ev.inclusion.treeSize !== head.treeSize) {
      checks.push({ ok: false, what: `inclusion proof is for tree size ${ev.inclusion?.treeSize ?? 'none'}, the head is ${head.treeSize}` });
    } else {
      const ok = verifyInclusion(fromHex(ev.leafHash), ev.logIndex, head.treeSize, ev.inclusion.proof.map(fromHex), fromHex(head.rootHash));
      checks.push({ ok, what: `entry ${ev.logIndex} ${ok ? 'is' : 'is NOT'} included in tree head ${head.treeSize}` });
    }
  }

  if (input.consistency) {
    const { evidence, oldHead } = input.consistency;
    checks.push(signatureCheck(`the older tree head ${oldHead.treeSize}`, oldHead, byId));
    const sizesOk = evidence.from === oldHead.treeSize && evidence.to === head.treeSize;
    const ok =
      sizesOk && verifyConsistency(oldHead.treeSize, head.treeSize, fromHex(oldHead.rootHash), fromHex(head.rootHash), evidence.proof.map(fromHex));
    checks.push({ ok, what: `tree head ${head.treeSize} ${ok ? 'extends' : 'does NOT extend'} tree head ${oldHead.treeSize} (append-only)` });
  }
  return checks;
};

const isIndex = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/**
 * The entries of an export against the signed head. Leaf hashes are recomputed from the envelopes
 * (the exported ones are only compared). A complete export (entries 0 … head size) is replayed into
 * the tree; a partial one must carry a range proof that, with the entries' recomputed leaves, gives
 * the signed root. Without it a partial export is refused: leaf hashes alone say nothing about
 * which entries the tree holds, so dropped, reordered or rewritten entries would pass.
 */
const exportChecks = (exp: LedgerExport, head: SignedTreeHead, keys: LedgerKey[]): Check[] => {
  const checks: Check[] = [];
  if (!EXPORT_FORMATS.includes(exp.format)) checks.push({ ok: false, what: `export format ${JSON.stringify(exp.format)} is not ${EXPORT_FORMAT}` });
  for (const key of exp.publicKeys ?? []) {
    if (key.previousKeyId === null) continue;
    checks.push({
      ok: true,
      what: key.attestation
        ? `key ${short(key.keyId)} took over from ${short(key.previousKeyId)} at ${key.introducedAtTreeSize} entries, attested by it`
        : `key ${short(key.keyId)} took over from ${short(key.previousKeyId)} at ${key.introducedAtTreeSize} entries, unattested (confirm it out of band)`,
    });
  }
  // The entries must be exactly the indices the export claims, in order: every later check relies on it.
  const { from, to, entries } = exp;
  const entriesOk = Array.isArray(entries) && isIndex(from) && isIndex(to) && from <= to && entries.length === to - from;
  const misplaced = entriesOk ? entries.findIndex((e, i) => e?.logIndex !== from + i) : -1;
  if (!entriesOk || misplaced >= 0) {
    const detail = !entriesOk
      ? `it claims entries ${String(from)}…${String(to)} (exclusive) but holds ${Array.isArray(entries) ? entries.length : 'no'} entries`
      : `position ${misplaced} holds entry ${String(entries[misplaced]?.logIndex)}, not ${from + misplaced}`;
    return [...checks, { ok: false, what: `the export's entries are not the log indices it claims: ${detail}` }];
  }

  const complete = from === 0 && to >= head.treeSize;
  const earlier = (exp.signedHeads ?? []).filter((h) => h.treeSize < head.treeSize);
  const auditor = new LedgerAuditor(complete ? [head, ...earlier] : earlier, keys);
  // From 0 the entries rebuild the tree, so every head within them is matched to its root.
  if (from === 0) auditor.feed(entries.slice(0, head.treeSize));
  let findings = auditor.finish().filter((f) => !(SIGNATURE_FINDINGS.includes(f.kind) && 'treeSize' in f && f.treeSize === head.treeSize));
  // Heads past a partial export's last entry cannot be matched here ('missing'), and changed
  // entries are reported below, once; the indices were checked above.
  if (!complete) findings = findings.filter((f) => f.kind !== 'missing' && f.kind !== 'changed');
  const signatures = findings.filter((f) => SIGNATURE_FINDINGS.includes(f.kind));
  const rest = findings.filter((f) => !SIGNATURE_FINDINGS.includes(f.kind));
  if (earlier.length) {
    const unverified = auditor.unverifiedHeads.length;
    checks.push(
      signatures.length === 0
        ? { ok: true, what: `${earlier.length} earlier signed heads verify, each with the key it names${unverified ? ` (${unverified} predate the key history: matched, not verifiable)` : ''}` }
        : { ok: false, what: `earlier signed heads do not verify: ${signatures.map(describeFinding).join('; ')}` },
    );
  }
  if (complete) {
    checks.push(
      rest.length === 0
        ? { ok: true, what: `root recomputed from ${head.treeSize} exported entries equals the signed root${earlier.length ? ` (and the root of each earlier head)` : ''}` }
        : { ok: false, what: `exported entries do not match the signed head: ${rest.map(describeFinding).join('; ')}` },
    );
    return checks;
  }

  const leaves = entries.map((e) => envelopeLeafHash(e.envelope));
  const changed = entries.filter((e, i) => leaves[i]!.toString('hex') !== e.leafHash).map((e) => e.logIndex);
  if (changed.length) checks.push({ ok: false, what: `changed: entries ${changed.join(', ')} do not hash to their exported leaf hashes` });
  if (rest.length) checks.push({ ok: false, what: `exported entries do not match earlier signed heads: ${rest.map(describeFinding).join('; ')}` });
  const beyond = earlier.filter((h) => from > 0 || h.treeSize > to).length;
  if (beyond) checks.push({ ok: true, what: `${beyond} earlier signed heads lie outside the exported entries: signatures checked, roots not recomputed` });
  const range = `entries ${from}…${to - 1} (${to - from} of the ${head.treeSize} tree head ${head.treeSize} covers)`;
  const proof = exp.rangeProof;
  if (!proof) {
    checks.push({
      ok: false,
      what: `the export is partial, ${range}, and carries no range proof: refused, since leaf hashes alone cannot show these entries are in the signed tree (export again from a service that adds the proof, or export from 0 to ${head.treeSize})`,
    });
  } else if (proof.treeSize !== head.treeSize || to > head.treeSize) {
    checks.push({ ok: false, what: `the range proof is for tree size ${String(proof.treeSize)} and the entries end at ${to}; the head is ${head.treeSize}: export against this head` });
  } else {
    let root: Buffer | null = null;
    try {
      root = rootFromRange(from, head.treeSize, leaves, (proof.hashes ?? []).map(fromHex));
    } catch {
      root = null; // a malformed hash: no root
    }
    const ok = root !== null && root.equals(fromHex(head.rootHash));
    checks.push({
      ok,
      what: ok
        ? `${range}, hashed from their envelopes, and the range proof's ${proof.hashes.length} subtree hashes give the signed root`
        : `${range}, hashed from their envelopes, with the range proof do NOT give the signed root: an entry was changed, dropped, added or moved`,
    });
  }
  return checks;
};

/** A head that must verify: one whose key was never recorded does not count. */
const signatureCheck = (what: string, head: SignedTreeHead, keys: ReadonlyMap<string, LedgerKey>): Check => {
  const verdict = checkHeadSignature(head, keys);
  return verdict.ok && verdict.verified
    ? { ok: true, what: `signature of ${what} verifies with key ${short(head.keyId)}` }
    : { ok: false, what: `signature of ${what} does NOT verify: ${verdict.detail}` };
};
