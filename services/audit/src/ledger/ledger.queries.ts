import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { DomainError } from '@continuity/contracts';
import { PG_POOL } from '@continuity/runtime';
import { consistencyProofRanges, inclusionProofRanges, LeafRange, multiInclusionProofRanges, perfectCover, rangeHash, rangeProofRanges, toHex } from '@continuity/contracts/ledger';

const log2 = (n: number) => Math.round(Math.log2(n));
const key = (start: number, size: number) => `${start}:${size}`;

/** A proof asked for a tree larger than the ledger holds: 404. */
export class TreeTooSmallError extends DomainError {
  constructor(to: number, size: number) {
    super('AUDIT.TREE_TOO_SMALL', `to=${to} exceeds the ledger's ${size} entries`, 404);
  }
}

/**
 * Every stored hash a proof needs, in one round trip and by primary key: leaves from the log,
 * larger perfect subtrees from merkle_nodes. A named statement: PostgreSQL parses and plans it
 * once per connection, not once per proof.
 */
const SUBTREE_HASHES = {
  name: 'audit-subtree-hashes',
  text: `select 0 as level, log_index as idx, leaf_hash as hash from audit.log_entries where log_index = any($1::bigint[])
         union all
         select n.level, n.idx, n.hash from audit.merkle_nodes n
         join unnest($2::smallint[], $3::bigint[]) as w(level, idx) on n.level = w.level and n.idx = w.idx`,
};

/**
 * CTEs `<name>_siblings` and `<name>_cover`: the perfect subtrees (level, idx) of the siblings, at levels from
 * `fromLevel` up, of the path from the leaf at `index` to the root of the tree of `size` leaves
 * (SQL expressions). At each level j the sibling is [s, s + 2^j) with s = ((index >> j) xor 1) << j,
 * where it starts inside the tree: one stored subtree when whole, else (the tree's right edge) the
 * perfect subtrees of its size's binary digits.
 */
const pathSiblingsSql = (name: string, index: string, size: string, fromLevel: string) => `
  ${name}_siblings as (
    select j, ((${index} >> j) # 1) << j as s from generate_series(0, 62) as j
     where j >= ${fromLevel} and ${index} < ${size} and ((${index} >> j) # 1) << j < ${size}
  ), ${name}_cover as (
    select j as level, s >> j as idx from ${name}_siblings where s + (1::bigint << j) <= ${size}
    union all
    select b as level, (s + (((${size} - s) >> (b + 1)) << (b + 1))) >> b as idx
      from ${name}_siblings, generate_series(0, 62) as b
     where s + (1::bigint << j) > ${size} and b < j and ((${size} - s) >> b) & 1 = 1
  )`;

/** CTE `<name>_hashes`: the stored hash of each subtree in `<name>_cover`, by primary key; one missing comes back null, and building the proof then fails naming it. */
const storedHashesSql = (name: string) => `
  ${name}_hashes as (
    select c.level, c.idx,
           case when c.level = 0 then (select l.leaf_hash from audit.log_entries l where l.log_index = c.idx)
                else (select n.hash from audit.merkle_nodes n where n.level = c.level and n.idx = c.idx) end as hash
      from ${name}_cover c
  )`;

/**
 * A statement's CTEs (`inclusion_cover`, `inclusion_hashes`) reading every stored hash the inclusion
 * proof of the leaf at `index` (an SQL expression) in the tree of `size` leaves needs, so that an
 * entry and its proof come in one round trip: what `perfectCover` gives for `inclusionProofRanges`
 * (the tests compare both for every index of every tree up to a size).
 */
export const inclusionHashesSql = (index: string, size: string) => `${pathSiblingsSql('inclusion', index, size, '0')},${storedHashesSql('inclusion')}`;

/**
 * A statement's CTEs (`consistency_cover`, `consistency_hashes`) reading every stored hash the
 * consistency proof from the tree of `from` leaves to the tree of `to` leaves needs (none unless
 * 0 < from < to), so that a state as of a past time comes with its proof in one round trip. The
 * proof (RFC 9162 2.1.4) lists the siblings of the path from leaf from − 1 at the levels from t up,
 * where 2^t is the largest power of two dividing `from`, after the perfect subtree [from − 2^t,
 * from) unless that is the whole old tree: what `perfectCover` gives for `consistencyProofRanges`
 * (the tests compare both for every pair of small trees and for trees up to 2^52).
 */
export const consistencyHashesSql = (from: string, to: string) => `
  consistency_bounds as (
    select ${from} as m, ${to} as n,
           (select min(t) from generate_series(0, 62) as t where (${from} >> t) & 1 = 1) as t
     where 0 < ${from} and ${from} < ${to}
  ), ${pathSiblingsSql('consistency_path', '(select m - 1 from consistency_bounds)', '(select n from consistency_bounds)', '(select t from consistency_bounds)')},
  consistency_cover as (
    select level, idx from consistency_path_cover
    union all
    select t as level, (m - 1) >> t as idx from consistency_bounds where m & (m - 1) <> 0
  ),${storedHashesSql('consistency')}`;

/** The rows `inclusionHashesSql` and `consistencyHashesSql` read, as `json_agg(json_build_array(level, idx, encode(hash, 'hex')))` hands them over. */
export type SubtreeHashRows = [level: number, idx: number | string, hash: string | null][];

/** The stored perfect subtrees by `start:size` from the rows a statement's `*_hashes` CTE handed over (a missing hash is left out). */
const foundIn = (rows: SubtreeHashRows): Map<string, Buffer> => {
  const found = new Map<string, Buffer>();
  for (const [level, idx, hash] of rows) {
    const size = 2 ** level;
    if (hash !== null) found.set(key(Number(idx) * size, size), Buffer.from(hash, 'hex'));
  }
  return found;
};

/** MTH of each range (hex) from `found`, the stored perfect subtrees by `start:size`; one missing is an error naming it. */
const hashesFrom = (ranges: LeafRange[], found: Map<string, Buffer>): string[] => {
  const lookup = (start: number, size: number) => {
    const hash = found.get(key(start, size));
    if (!hash) throw new Error(`ledger is missing the hash of subtree (${start}, ${size})`);
    return hash;
  };
  return ranges.map((r) => toHex(rangeHash(r.start, r.size, lookup)));
};

/**
 * Proofs straight from the stored perfect-subtree hashes: O(log n) hashes read, never the log.
 * The proof's shape (which ranges it lists) is pure arithmetic on the tree sizes (merkle.ts), so
 * the perfect subtrees those ranges are made of are known before anything is read, and fetched
 * with one indexed query.
 */
@Injectable()
export class LedgerProofs {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async consistency(from: number, to: number): Promise<string[]> {
    if (from === to) return [];
    return this.hashes(consistencyProofRanges(from, to));
  }

  /** The subtree hashes that prove entries [from, to) against the root of `treeSize` entries: O(log n) of them. */
  async range(from: number, to: number, treeSize: number): Promise<string[]> {
    return this.hashes(rangeProofRanges(from, to, treeSize));
  }

  /** The subtree hashes that prove the entries at `indices` (strictly increasing) against the root of `treeSize` entries, in one proof. */
  async multiInclusion(indices: number[], treeSize: number): Promise<string[]> {
    return indices.length ? this.hashes(multiInclusionProofRanges(indices, treeSize)) : [];
  }

  /** Root of the first `treeSize` entries, from stored hashes. */
  async root(treeSize: number): Promise<string> {
    return this.hashes([{ start: 0, size: treeSize }]).then(([root]) => root!);
  }

  /** The inclusion proof of the leaf at `index` in the tree of `treeSize` leaves, from the hashes a statement with `inclusionHashesSql` read. */
  inclusionFrom(index: number, treeSize: number, rows: SubtreeHashRows): string[] {
    return hashesFrom(inclusionProofRanges(index, treeSize), foundIn(rows));
  }

  /** The consistency proof from the tree of `from` leaves to that of `to`, from the hashes a statement with `consistencyHashesSql` read. */
  consistencyFrom(from: number, to: number, rows: SubtreeHashRows): string[] {
    return from === to ? [] : hashesFrom(consistencyProofRanges(from, to), foundIn(rows));
  }

  /** MTH of each range (hex), from the stored perfect subtrees that cover them. */
  private async hashes(ranges: LeafRange[]): Promise<string[]> {
    const needed = new Map<string, LeafRange>();
    for (const range of ranges) for (const s of perfectCover(range.start, range.size)) needed.set(key(s.start, s.size), s);
    const found = needed.size > 0 ? await this.fetch([...needed.values()]) : new Map<string, Buffer>();
    return hashesFrom(ranges, found);
  }

  private async fetch(subtrees: LeafRange[]): Promise<Map<string, Buffer>> {
    const leaves: number[] = [];
    const levels: number[] = [];
    const indices: number[] = [];
    for (const s of subtrees) {
      if (s.size === 1) leaves.push(s.start);
      else {
        levels.push(log2(s.size));
        indices.push(s.start / s.size);
      }
    }
    const { rows } = await this.pool.query<{ level: number; idx: string; hash: Buffer }>({ ...SUBTREE_HASHES, values: [leaves, levels, indices] });
    const found = new Map<string, Buffer>();
    for (const row of rows) {
      const size = 2 ** Number(row.level);
      found.set(key(Number(row.idx) * size, size), row.hash);
    }
    return found;
  }
}
