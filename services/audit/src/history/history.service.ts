import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { DomainError } from '@continuity/contracts';
import { PG_POOL, SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig } from '../config/audit.config.js';
import { consistencyHashesSql, inclusionHashesSql, LedgerProofs, SubtreeHashRows } from '../ledger/ledger.queries.js';
import { assessAt, evolveResourceState, ResourceState } from '../resource-state/resource-state.projection.js';
import { sloTargetsOf } from '../resource-state/slo-targets.js';
import { assessProtection } from '../resource-state/protection.projection.js';
import { readStoredEntry } from '../resource-state/stored-entry.js';
import { HEAD_AT_OR_AFTER_SQL, headFromRow, TreeHeadsService } from '../signing/tree-heads.service.js';

export interface StoredEntry {
  logIndex: number;
  eventId: string;
  type: string;
  resource: string;
  occurredAt: string;
  recordedAt: string;
  streamSeq: number;
  envelope: Record<string, unknown>;
  leafHash: string;
  /** Why the event was recorded but not acted on (an unknown or unauthorized source, dated ahead); null: acted on. */
  untrusted: string | null;
}

const toEntry = (row: Record<string, any>): StoredEntry => ({
  logIndex: Number(row.log_index),
  eventId: row.event_id,
  type: row.type,
  resource: row.resource,
  occurredAt: new Date(row.occurred_at).toISOString(),
  recordedAt: new Date(row.recorded_at).toISOString(),
  streamSeq: Number(row.stream_seq),
  envelope: row.envelope,
  leafHash: (row.leaf_hash as Buffer).toString('hex'),
  untrusted: row.untrusted ?? null,
});

/** A log entry as the projection folds it, from the statement below. */
type FoldedRow = { log_index: number; recorded_at: string; envelope: unknown };
/** The row `STATE_INPUTS` returns (none when nothing was recorded by then). */
type StateInputs = { tree_size: string; snapshot: ResourceState | null; entries: FoldedRow[]; head: Record<string, unknown> | null; consistency_hashes: SubtreeHashRows };

/**
 * Everything `stateAt` needs, in one statement: the tree size covering `at` ($2), the resource's ($1)
 * newest snapshot inside it (primary key (resource, log_index), read backwards from that size), the
 * entries after that snapshot ((resource, log_index) index: at most SNAPSHOT_EVERY of them), the
 * first signed head covering that size, and every stored hash of the consistency proof from that
 * size to the newest signed head this instance knows of ($3; none when the size is past it).
 * Named statements are parsed and planned once per connection. (Exported for the `audit-query`
 * benchmark, which times it straight against PostgreSQL as the floor of a state request.)
 */
export const STATE_INPUTS = {
  name: 'audit-state-inputs',
  text: `with bound as (
           select log_index + 1 as tree_size from audit.log_entries
           where recorded_at <= $2::timestamptz order by recorded_at desc, log_index desc limit 1
         ), snapshot as (
           select s.log_index, s.state from audit.resource_snapshots s, bound b
           where s.resource = $1::text and s.log_index < b.tree_size order by s.log_index desc limit 1
         ), ${consistencyHashesSql('(select tree_size from bound)', '$3::bigint')}
         select b.tree_size,
                (select state from snapshot) as snapshot,
                (select coalesce(json_agg(json_build_object('log_index', e.log_index, 'recorded_at', e.recorded_at, 'envelope', e.envelope) order by e.log_index), '[]')
                   from audit.log_entries e
                  where e.resource = $1::text and e.untrusted is null
                    and e.log_index > coalesce((select log_index from snapshot), -1) and e.log_index < b.tree_size) as entries,
                (select row_to_json(h) from (${HEAD_AT_OR_AFTER_SQL('b.tree_size')}) h) as head,
                (select coalesce(json_agg(json_build_array(c.level, c.idx, encode(c.hash, 'hex'))), '[]') from consistency_hashes c) as consistency_hashes
           from bound b`,
};

const ENTRY_COLUMNS = 'log_index, event_id, type, resource, occurred_at, recorded_at, stream_seq, envelope, leaf_hash, untrusted';
/** The entry ($1) and every stored hash of its inclusion proof in the tree of $2 leaves (none when it is not in that tree), in one round trip (the benchmark's floor of a proof request, as above). */
export const ENTRY_WITH_PROOF_HASHES = {
  name: 'audit-entry-with-proof-hashes',
  text: `with entry as (select ${ENTRY_COLUMNS} from audit.log_entries where event_id = $1::uuid),
         ${inclusionHashesSql('(select log_index from entry)', '$2::bigint')}
         select entry.*, (select coalesce(json_agg(json_build_array(h.level, h.idx, encode(h.hash, 'hex'))), '[]') from inclusion_hashes h) as proof_hashes
           from entry`,
};

/** Something asked for is not in the ledger: 404 with its code. */
export class NotFoundInLedgerError extends DomainError {
  constructor(code: string, message: string) {
    super(code, message, 404);
  }
}

/** Reads of the ledger: point-in-time state, events with proofs, exports. */
@Injectable()
export class HistoryService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
    private readonly proofs: LedgerProofs,
    private readonly heads: TreeHeadsService,
  ) {}

  /**
   * The resource's state as recorded by `at`: the fold of every entry recorded at or before it
   * (the nearest snapshot plus at most SNAPSHOT_EVERY entries), the tree size N that covers, the
   * first signed head at or after N, and a consistency proof from N to the latest signed head.
   * One round trip whatever the log's length once a head is cached; more only when N is past the
   * newest head this instance knows of (another instance may have signed since): the latest head,
   * then the proof (and the covering head, if it was signed after the statement read none).
   */
  async stateAt(resource: string, at: Date) {
    let latest = await this.heads.latestCached();
    const known = latest?.treeSize ?? 0;
    const { rows } = await this.pool.query<StateInputs>({ ...STATE_INPUTS, values: [resource, at.toISOString(), known] });
    const inputs = rows[0];
    const treeSize = inputs ? Number(inputs.tree_size) : 0;
    let head = inputs?.head ? headFromRow(inputs.head) : null;
    let consistency = treeSize > 0 && known >= treeSize ? { from: treeSize, to: known, proof: this.proofs.consistencyFrom(treeSize, known, inputs!.consistency_hashes) } : null;
    if (treeSize > known) {
      latest = await this.heads.latest();
      const to = latest?.treeSize ?? 0;
      if (to >= treeSize) {
        // A head covering the state may have been signed after the statement read none: read it again.
        [head, consistency] = await Promise.all([head ?? this.heads.atOrAfter(treeSize), this.proofs.consistency(treeSize, to).then((proof) => ({ from: treeSize, to, proof }))]);
      }
    }
    const targets = sloTargetsOf(this.config);
    let state: ResourceState | null = inputs?.snapshot ?? null;
    for (const row of inputs?.entries ?? []) state = evolveResourceState(state, readStoredEntry(row), targets);
    return {
      resource,
      at: at.toISOString(),
      treeSize,
      state,
      assessment: state ? { ...assessAt(state, at, targets), protection: assessProtection(state, at) } : null,
      signedHead: head,
      latestSignedHead: latest,
      consistency,
    };
  }

  /** Every resource's state, with its recoverable window and RPO exposure as of `now` (they grow with the clock). */
  async currentStates(now = new Date()): Promise<(ResourceState & { protectionNow: ReturnType<typeof assessProtection> })[]> {
    return (await this.dataSource.query('select state from audit.resource_states order by resource')).map((r: { state: ResourceState }) => ({
      ...r.state,
      protectionNow: assessProtection(r.state, now),
    }));
  }

  /**
   * Events by filter, oldest first, `limit` per page; `cursor` is the last log index of the previous
   * page. With `treeSize` (a signed head's size, at most the entries stored), only entries inside
   * that tree, and the page comes with one multi-leaf inclusion proof of all its entries against
   * it: a reader holding that signed head checks the whole page without trusting this answer.
   */
  async events(filter: { resource?: string; type?: string; from?: Date; to?: Date; cursor?: number; limit: number; treeSize?: number }) {
    const where: string[] = ['log_index > $1'];
    const params: unknown[] = [filter.cursor ?? -1];
    const add = (clause: string, value: unknown) => {
      params.push(value);
      where.push(clause.replace('?', `$${params.length}`));
    };
    if (filter.resource) add('resource = ?', filter.resource);
    if (filter.type) add('type = ?', filter.type);
    if (filter.from) add('occurred_at >= ?', filter.from.toISOString());
    if (filter.to) add('occurred_at < ?', filter.to.toISOString());
    if (filter.treeSize !== undefined) add('log_index < ?', filter.treeSize);
    params.push(filter.limit + 1);
    const rows = await this.dataSource.query(
      `select * from audit.log_entries where ${where.join(' and ')} order by log_index limit $${params.length}`,
      params,
    );
    const page = rows.slice(0, filter.limit).map(toEntry);
    const nextCursor = rows.length > filter.limit ? page[page.length - 1]!.logIndex : null;
    if (filter.treeSize === undefined) return { events: page, nextCursor };
    const proof = { treeSize: filter.treeSize, hashes: await this.proofs.multiInclusion(page.map((e: StoredEntry) => e.logIndex), filter.treeSize) };
    return { events: page, nextCursor, proof };
  }

  /**
   * One event with its inclusion proof against the latest signed head (if that head covers it), or,
   * with `treeSize`, against the tree of that size (at most the entries stored: the caller checks)
   * and the first signed head covering it.
   */
  async event(eventId: string, treeSize?: number) {
    // The entry and its proof's hashes in one statement, against the latest signed head this instance
    // knows of or the tree asked for (then with the first head covering it, read alongside).
    const latest = treeSize === undefined ? await this.heads.latestCached() : null;
    const size = treeSize ?? latest?.treeSize ?? 0;
    const [head, { rows }] = await Promise.all([
      treeSize !== undefined ? this.heads.atOrAfter(treeSize) : latest,
      this.pool.query({ ...ENTRY_WITH_PROOF_HASHES, values: [eventId, size] }),
    ]);
    const row = rows[0];
    if (!row) throw new NotFoundInLedgerError('AUDIT.EVENT_NOT_FOUND', `no event ${eventId} in the ledger`);
    const entry = toEntry(row);
    const inclusion = size > entry.logIndex ? { treeSize: size, proof: this.proofs.inclusionFrom(entry.logIndex, size, row.proof_hashes) } : null;
    return { ...entry, signedHead: head, inclusion };
  }

  /** Entries [from, to) of the log by index, for offline verification. */
  async entriesByIndex(from: number, to: number): Promise<StoredEntry[]> {
    return (
      await this.dataSource.query('select * from audit.log_entries where log_index >= $1 and log_index < $2 order by log_index', [from, to])
    ).map(toEntry);
  }
}
