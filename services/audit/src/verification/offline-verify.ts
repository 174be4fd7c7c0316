import { envelopeLeafHash } from '../ledger/leaf.js';
import { fromHex, verifyConsistency, verifyInclusion } from '../ledger/merkle.js';
import { describeFinding, LedgerAuditor } from '../integrity/ledger-audit.js';
import { SignedTreeHead, verifyTreeHead } from '../signing/tree-head-signer.js';

export const EXPORT_FORMAT = 'continuity-audit-export/1';

export interface LedgerExport {
  format: string;
  from: number;
  to: number;
  signedHead: SignedTreeHead | null;
  publicKeyPem: string;
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
  /** The key obtained out of band; without it the export's own key is used (and said so). */
  publicKeyPem?: string;
  /** A head obtained out of band; defaults to the export's. */
  head?: SignedTreeHead;
  inclusion?: InclusionEvidence;
  consistency?: { evidence: ConsistencyEvidence; oldHead: SignedTreeHead };
}

/**
 * Everything an auditor can check without the service or its database: the head's signature, the
 * root recomputed from the exported entries, each entry's leaf hash, and inclusion or consistency
 * proofs. Returns one line per check; the verification passed when every line is ok.
 */
export const verifyOffline = (input: VerifyInput): Check[] => {
  const checks: Check[] = [];
  const key = input.publicKeyPem ?? input.exported?.publicKeyPem;
  if (!key) return [{ ok: false, what: 'no public key: pass --public-key or an export that carries one' }];
  if (!input.publicKeyPem) checks.push({ ok: true, what: 'using the public key inside the export (pass --public-key to check it against one you obtained separately)' });
  const head = input.head ?? input.exported?.signedHead ?? input.inclusion?.signedHead ?? null;
  if (!head) return [...checks, { ok: false, what: 'no signed tree head: pass --head or an export that carries one' }];
  const signed = verifyTreeHead(head, key);
  checks.push({ ok: signed, what: `signature of tree head ${head.treeSize} (root ${head.rootHash}, ${head.timestamp}) ${signed ? 'verifies' : 'does NOT verify'}` });

  if (input.exported) {
    const exp = input.exported;
    if (exp.format !== EXPORT_FORMAT) checks.push({ ok: false, what: `export format ${JSON.stringify(exp.format)} is not ${EXPORT_FORMAT}` });
    if (exp.from === 0 && exp.entries.length >= head.treeSize) {
      const auditor = new LedgerAuditor([head], key);
      auditor.feed(exp.entries.slice(0, head.treeSize));
      const findings = auditor.finish().filter((f) => f.kind !== 'bad-signature');
      checks.push(
        findings.length === 0
          ? { ok: true, what: `root recomputed from ${head.treeSize} exported entries equals the signed root` }
          : { ok: false, what: `exported entries do not match the signed head: ${findings.map(describeFinding).join('; ')}` },
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
    const oldSigned = verifyTreeHead(oldHead, key);
    checks.push({ ok: oldSigned, what: `signature of the older tree head ${oldHead.treeSize} ${oldSigned ? 'verifies' : 'does NOT verify'}` });
    const sizesOk = evidence.from === oldHead.treeSize && evidence.to === head.treeSize;
    const ok =
      sizesOk && verifyConsistency(oldHead.treeSize, head.treeSize, fromHex(oldHead.rootHash), fromHex(head.rootHash), evidence.proof.map(fromHex));
    checks.push({ ok, what: `tree head ${head.treeSize} ${ok ? 'extends' : 'does NOT extend'} tree head ${oldHead.treeSize} (append-only)` });
  }
  return checks;
};
