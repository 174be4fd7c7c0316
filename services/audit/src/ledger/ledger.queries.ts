import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DomainError } from '@continuity/contracts';
import { consistencyProof, inclusionProof, rangeProof, SubtreeHashes, subtreeHashesFromPerfect, toHex } from './merkle.js';

const log2 = (n: number) => Math.round(Math.log2(n));
const key = (start: number, size: number) => `${start}:${size}`;

/** A proof asked for a tree larger than the ledger holds: 404. */
export class TreeTooSmallError extends DomainError {
  constructor(to: number, size: number) {
    super('AUDIT.TREE_TOO_SMALL', `to=${to} exceeds the ledger's ${size} entries`, 404);
  }
}

/**
 * Proofs straight from the stored perfect-subtree hashes: O(log² n) hashes read, never the log.
 * The proof algorithms ask for hashes synchronously, so each proof runs twice: once to learn which
 * subtrees it needs (their shape does not depend on hash values), then with them fetched in one query.
 */
@Injectable()
export class LedgerProofs {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async inclusion(index: number, treeSize: number): Promise<string[]> {
    return this.withSubtrees((hashes) => inclusionProof(index, treeSize, hashes));
  }

  async consistency(from: number, to: number): Promise<string[]> {
    if (from === to) return [];
    return this.withSubtrees((hashes) => consistencyProof(from, to, hashes));
  }

  /** The subtree hashes that prove entries [from, to) against the root of `treeSize` entries: O(log n) of them. */
  async range(from: number, to: number, treeSize: number): Promise<string[]> {
    return this.withSubtrees((hashes) => rangeProof(from, to, treeSize, hashes));
  }

  /** Root of the first `treeSize` entries, from stored hashes. */
  async root(treeSize: number): Promise<string> {
    return this.withSubtrees((hashes) => [hashes.hash(0, treeSize)]).then(([root]) => root!);
  }

  private async withSubtrees(run: (hashes: SubtreeHashes) => Buffer[]): Promise<string[]> {
    const needed = new Map<string, { start: number; size: number }>();
    const placeholder = Buffer.alloc(32);
    run(subtreeHashesFromPerfect((start, size) => (needed.set(key(start, size), { start, size }), placeholder)));
    const found = await this.fetch([...needed.values()]);
    return run(
      subtreeHashesFromPerfect((start, size) => {
        const hash = found.get(key(start, size));
        if (!hash) throw new Error(`ledger is missing the hash of subtree (${start}, ${size})`);
        return hash;
      }),
    ).map(toHex);
  }

  /** Every needed hash in one round trip: leaves from the log, larger subtrees from merkle_nodes. */
  private async fetch(subtrees: { start: number; size: number }[]): Promise<Map<string, Buffer>> {
    const leaves = subtrees.filter((s) => s.size === 1).map((s) => s.start);
    const inner = subtrees.filter((s) => s.size > 1);
    const rows: { level: number; idx: string; hash: Buffer }[] = await this.dataSource.query(
      `select 0 as level, log_index as idx, leaf_hash as hash from audit.log_entries where log_index = any($1::bigint[])
       union all
       select n.level, n.idx, n.hash from audit.merkle_nodes n
       join unnest($2::smallint[], $3::bigint[]) as w(level, idx) on n.level = w.level and n.idx = w.idx`,
      [leaves, inner.map((s) => log2(s.size)), inner.map((s) => s.start / s.size)],
    );
    const found = new Map<string, Buffer>();
    for (const row of rows) {
      const size = 2 ** Number(row.level);
      found.set(key(Number(row.idx) * size, size), row.hash);
    }
    return found;
  }
}
