import { envelopeLeafHash } from '../ledger/leaf.js';
import { fromHex, verifyConsistency, verifyInclusion } from '../ledger/merkle.js';
import { describeFinding, Finding, LedgerAuditor } from '../integrity/ledger-audit.js';
import { checkHeadSignature, LedgerKey } from '../signing/key-history.js';
import { keyIdOfPem, SignedTreeHead, verifyAttestation } from '../signing/tree-head-signer.js';

/** /2 adds every key the ledger used and every signed head; /1 exports (one key, one head) still verify. */
export const EXPORT_FORMAT = 'continuity-audit-export/2';
const EXPORT_FORMATS = [EXPORT_FORMAT, 'continuity-audit-export/1'];

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

const keyOf = (pem: string, keyId: string): LedgerKey => ({
  keyId,
  publicKeyPem: pem,
  firstUsedAt: '',
  introducedAtTreeSize: 0,
  previousKeyId: null,
  attestation: null,
  legacyThroughTreeSize: null,
});

const exportedKeys = (exp: LedgerExport | undefined): LedgerKey[] => {
  if (!exp) return [];
  if (exp.publicKeys?.length) return exp.publicKeys;
  const keyId = exp.publicKeyPem ? keyIdOfPem(exp.publicKeyPem) : null;
  return keyId ? [keyOf(exp.publicKeyPem, keyId)] : [];
};

/** The keys heads are checked against, with a line saying where they came from. */
const trustedKeys = (input: VerifyInput, checks: Check[]): LedgerKey[] => {
  const exported = exportedKeys(input.exported);
  if (!input.publicKeyPems?.length) {
    if (exported.length) checks.push({ ok: true, what: 'using the public keys inside the export (pass --public-key to check them against keys you obtained separately)' });
    return exported;
  }
  const trusted = new Map<string, LedgerKey>();
  for (const pem of input.publicKeyPems) {
    const keyId = keyIdOfPem(pem);
    if (!keyId) checks.push({ ok: false, what: 'a --public-key file holds something that is not a public key' });
    else trusted.set(keyId, keyOf(pem, keyId));
  }
  // A key the export introduces is as good as the trusted key that signed it, and so on down the chain.
  for (let grew = true; grew; ) {
    grew = false;
    for (const key of exported) {
      const previous = key.previousKeyId ? trusted.get(key.previousKeyId) : undefined;
      if (trusted.has(key.keyId) || !key.publicKeyPem || !key.attestation || !previous?.publicKeyPem) continue;
      if (keyIdOfPem(key.publicKeyPem) !== key.keyId || !verifyAttestation(key.publicKeyPem, key.attestation, previous.publicKeyPem)) continue;
      trusted.set(key.keyId, key);
      checks.push({ ok: true, what: `key ${short(key.keyId)} is trusted: key ${short(previous.keyId)} signed it` });
      grew = true;
    }
  }
  // Keys recorded without a public key can never make a head verify; they only mark old heads as unverifiable.
  for (const key of exported) if (key.publicKeyPem === null && !trusted.has(key.keyId)) trusted.set(key.keyId, key);
  return [...trusted.values()];
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

  if (input.exported) {
    const exp = input.exported;
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
    if (exp.from === 0 && exp.entries.length >= head.treeSize) {
      const earlier = (exp.signedHeads ?? []).filter((h) => h.treeSize < head.treeSize);
      const auditor = new LedgerAuditor([head, ...earlier], keys);
      auditor.feed(exp.entries.slice(0, head.treeSize));
      const findings = auditor.finish().filter((f) => !(SIGNATURE_FINDINGS.includes(f.kind) && 'treeSize' in f && f.treeSize === head.treeSize));
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
      checks.push(
        rest.length === 0
          ? { ok: true, what: `root recomputed from ${head.treeSize} exported entries equals the signed root${earlier.length ? ` (and the root of each earlier head)` : ''}` }
          : { ok: false, what: `exported entries do not match the signed head: ${rest.map(describeFinding).join('; ')}` },
      );
    } else {
      const bad = exp.entries.filter((e) => envelopeLeafHash(e.envelope).toString('hex') !== e.leafHash).map((e) => e.logIndex);
      checks.push(
        bad.length === 0
          ? { ok: true, what: `every one of ${exp.entries.length} exported entries hashes to its leaf hash (the root needs entries from 0 to ${head.treeSize})` }
          : { ok: false, what: `entries ${bad.join(', ')} do not hash to their leaf hashes` },
      );
    }
  }
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

/** A head that must verify: one whose key was never recorded does not count. */
const signatureCheck = (what: string, head: SignedTreeHead, keys: ReadonlyMap<string, LedgerKey>): Check => {
  const verdict = checkHeadSignature(head, keys);
  return verdict.ok && verdict.verified
    ? { ok: true, what: `signature of ${what} verifies with key ${short(head.keyId)}` }
    : { ok: false, what: `signature of ${what} does NOT verify: ${verdict.detail}` };
};
