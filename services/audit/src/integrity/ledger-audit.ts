import { appendLeaf, EMPTY_FRONTIER, Frontier, frontierRoot, SubtreeNode } from '../ledger/frontier.js';
import { checkHeadSignature, envelopeLeafHash, keyHistoryProblems, LedgerKey, SignedTreeHead } from '@continuity/contracts/ledger';

export type Finding =
  | { kind: 'changed'; logIndex: number; detail: string }
  | { kind: 'missing'; logIndex: number; detail: string }
  | { kind: 'out-of-place'; logIndex: number; detail: string }
  | { kind: 'node-mismatch'; level: number; idx: number; detail: string }
  | { kind: 'root-mismatch'; treeSize: number; detail: string }
  | { kind: 'bad-signature'; treeSize: number; detail: string }
  | { kind: 'unknown-key'; treeSize: number; detail: string }
  | { kind: 'bad-key'; detail: string }
  | { kind: 'unannounced-head'; treeSize: number; detail: string }
  | { kind: 'unstored-announcement'; treeSize: number; detail: string }
  | { kind: 'announcement-differs'; treeSize: number; detail: string };

export interface AuditEntry {
  logIndex: number;
  envelope: unknown;
  /** Stored leaf hash, hex. */
  leafHash: string;
}

/** The longest run of missing entries stood in for (by zero leaves) to recompute later roots. */
const MAX_GAP_FILLED = 1 << 20;

/**
 * Re-checks a ledger, chunk by chunk, against itself and its signed heads: every leaf hash is
 * recomputed from the stored envelope, indices must run 0, 1, 2, … without gaps, stored Merkle
 * nodes must equal the recomputed ones, and every signed head must verify and match the root of
 * the recomputed tree at its size. Each head is verified with the key it names, from the ledger's
 * key history (old heads keep verifying after a key change). Pure: the caller feeds entries in
 * index order.
 */
export class LedgerAuditor {
  private frontier: Frontier = EMPTY_FRONTIER;
  private readonly heads: SignedTreeHead[];
  private readonly headsBySize: Map<number, SignedTreeHead>;
  readonly findings: Finding[] = [];
  /** Heads signed before the ledger kept its keys, by a key never recorded: matched, not verified. */
  readonly unverifiedHeads: number[] = [];

  constructor(
    heads: SignedTreeHead[],
    keys: readonly LedgerKey[],
    private readonly maxFindings = 100,
  ) {
    this.heads = [...heads].sort((a, b) => a.treeSize - b.treeSize);
    this.headsBySize = new Map(this.heads.map((h) => [h.treeSize, h]));
    for (const detail of keyHistoryProblems(keys)) this.report({ kind: 'bad-key', detail });
    const byId = new Map(keys.map((k) => [k.keyId, k]));
    for (const head of this.heads) {
      const verdict = checkHeadSignature(head, byId);
      if (!verdict.ok) this.report({ kind: verdict.kind, treeSize: head.treeSize, detail: verdict.detail });
      else if (!verdict.verified) this.unverifiedHeads.push(head.treeSize);
    }
  }

  /** Entries in index order. Returns the recomputed perfect subtrees they completed (to compare with stored nodes). */
  feed(entries: AuditEntry[]): SubtreeNode[] {
    const nodes: SubtreeNode[] = [];
    for (const entry of entries) {
      const expected = this.frontier.size;
      if (entry.logIndex > expected) {
        this.report({ kind: 'missing', logIndex: expected, detail: `entries ${expected}…${entry.logIndex - 1} are missing (next stored index is ${entry.logIndex})` });
        if (entry.logIndex - expected > MAX_GAP_FILLED) {
          // Filling the gap would take as long as the forged index is large: left out of the tree.
          this.report({ kind: 'out-of-place', logIndex: entry.logIndex, detail: `entry ${entry.logIndex} lies ${entry.logIndex - expected} entries past the last one; not placed in the tree` });
          continue;
        }
      } else if (entry.logIndex < expected) {
        this.report({ kind: 'out-of-place', logIndex: entry.logIndex, detail: `entry ${entry.logIndex} appears after ${expected - 1}` });
        continue;
      }
      const recomputed = envelopeLeafHash(entry.envelope);
      if (recomputed.toString('hex') !== entry.leafHash) {
        this.report({ kind: 'changed', logIndex: entry.logIndex, detail: `entry ${entry.logIndex}: stored envelope hashes to ${recomputed.toString('hex')}, stored leaf hash is ${entry.leafHash}` });
      }
      // Build the tree from what the envelopes say, so a changed envelope shows at every later head.
      let frontier = this.frontier;
      while (frontier.size < entry.logIndex) frontier = appendLeaf(frontier, Buffer.alloc(32)).frontier; // gap filler: roots will mismatch
      const appended = appendLeaf(frontier, recomputed);
      this.frontier = appended.frontier;
      nodes.push(...appended.completed);
      this.checkHeadAt(this.frontier.size);
    }
    return nodes;
  }

  /** Compares stored nodes with the recomputed ones for the same subtrees. */
  compareNodes(recomputed: SubtreeNode[], stored: Map<string, Buffer>) {
    for (const node of recomputed) {
      const level = Math.round(Math.log2(node.size));
      const idx = node.start / node.size;
      const hash = stored.get(`${level}:${idx}`);
      if (!hash || !hash.equals(node.hash)) {
        this.report({
          kind: 'node-mismatch',
          level,
          idx,
          detail: `stored hash of entries ${node.start}…${node.start + node.size - 1} ${hash ? 'differs from' : 'is missing; expected'} ${node.hash.toString('hex')}`,
        });
      }
    }
  }

  /** Call after the last entry: heads beyond the stored log mean entries were removed from its end. */
  finish(): Finding[] {
    for (const head of this.heads) {
      if (head.treeSize > this.frontier.size) {
        this.report({ kind: 'missing', logIndex: this.frontier.size, detail: `signed head covers ${head.treeSize} entries but only ${this.frontier.size} are stored` });
        break;
      }
    }
    return this.findings;
  }

  get entriesChecked(): number {
    return this.frontier.size;
  }

  private checkHeadAt(size: number) {
    const head = this.headsBySize.get(size);
    if (head) {
      const root = frontierRoot(this.frontier).toString('hex');
      if (root !== head.rootHash) {
        this.report({ kind: 'root-mismatch', treeSize: size, detail: `signed head ${size} has root ${head.rootHash}; the stored entries give ${root}` });
      }
    }
  }

  private report(finding: Finding) {
    if (this.findings.length < this.maxFindings) this.findings.push(finding);
  }
}

export const describeFinding = (f: Finding): string => `${f.kind}: ${f.detail}`;

const sameHead = (a: SignedTreeHead, b: SignedTreeHead) =>
  a.treeSize === b.treeSize && a.rootHash === b.rootHash && a.timestamp === b.timestamp && a.signature === b.signature && a.keyId === b.keyId;

/**
 * Stored heads against the `AuditCheckpointSigned` announcements on the stream: the service
 * announces every head it signs, and neither the database nor the stream can be rewritten alone
 * without the two disagreeing. A stored head never announced, an announcement with no stored head,
 * or one that differs from the stored head of its size is a finding. Heads signed after
 * `announcedBy` may still be on their way to the stream and are not required yet.
 */
export const compareAnnouncements = (stored: readonly SignedTreeHead[], announced: readonly SignedTreeHead[], announcedBy: string): Finding[] => {
  const findings: Finding[] = [];
  const bySize = new Map<number, SignedTreeHead[]>();
  for (const a of announced) bySize.set(a.treeSize, [...(bySize.get(a.treeSize) ?? []), a]);
  const storedSizes = new Map(stored.map((h) => [h.treeSize, h]));
  for (const head of stored) {
    const announcements = bySize.get(head.treeSize) ?? [];
    if (announcements.length === 0) {
      if (head.timestamp <= announcedBy) findings.push({ kind: 'unannounced-head', treeSize: head.treeSize, detail: `stored head ${head.treeSize} (root ${head.rootHash}) was never announced as AuditCheckpointSigned` });
    } else if (announcements.some((a) => !sameHead(a, head))) {
      findings.push({ kind: 'announcement-differs', treeSize: head.treeSize, detail: `head ${head.treeSize} as stored (root ${head.rootHash}) differs from its AuditCheckpointSigned announcement` });
    }
  }
  for (const [size, announcements] of bySize) {
    if (!storedSizes.has(size)) {
      findings.push({ kind: 'unstored-announcement', treeSize: size, detail: `AuditCheckpointSigned announced head ${size} (root ${announcements[0]!.rootHash}), which is not stored` });
    }
  }
  return findings;
};
