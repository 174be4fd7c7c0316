import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DomainError } from '@continuity/contracts';
import { SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig } from '../config/audit.config.js';
import { LedgerProofs } from '../ledger/ledger.queries.js';
import { assessAt, evolveResourceState, ResourceState } from '../resource-state/resource-state.projection.js';
import { sloTargetsOf } from '../resource-state/slo-targets.js';
import { assessProtection } from '../resource-state/protection.projection.js';
import { readStoredEntry } from '../resource-state/stored-entry.js';
import { TreeHeadsService } from '../signing/tree-heads.service.js';

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
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
    private readonly proofs: LedgerProofs,
    private readonly heads: TreeHeadsService,
  ) {}

  /**
   * The resource's state as recorded by `at`: the fold of every entry recorded at or before it
   * (the nearest snapshot plus at most SNAPSHOT_EVERY entries), the tree size N that covers, the
   * first signed head at or after N, and a consistency proof from N to the latest signed head.
   */
  async stateAt(resource: string, at: Date) {
    const [bound] = await this.dataSource.query(
      'select log_index from audit.log_entries where recorded_at <= $1 order by recorded_at desc, log_index desc limit 1',
      [at.toISOString()],
    );
    const treeSize = bound ? Number(bound.log_index) + 1 : 0;
    let state: ResourceState | null = null;
    if (treeSize > 0) {
      const [snapshot] = await this.dataSource.query(
        'select log_index, state from audit.resource_snapshots where resource = $1 and log_index < $2 order by log_index desc limit 1',
        [resource, treeSize],
      );
      state = snapshot ? (snapshot.state as ResourceState) : null;
      const rows = await this.dataSource.query(
        'select log_index, recorded_at, envelope from audit.log_entries where resource = $1 and log_index > $2 and log_index < $3 and untrusted is null order by log_index',
        [resource, snapshot ? Number(snapshot.log_index) : -1, treeSize],
      );
      const targets = sloTargetsOf(this.config);
      for (const row of rows) {
        state = evolveResourceState(
          state,
          readStoredEntry(row),
          targets,
        );
      }
    }
    const head = treeSize > 0 ? await this.heads.atOrAfter(treeSize) : null;
    const latest = await this.heads.latest();
    const consistency =
      treeSize > 0 && latest && latest.treeSize >= treeSize
        ? { from: treeSize, to: latest.treeSize, proof: await this.proofs.consistency(treeSize, latest.treeSize) }
        : null;
    return {
      resource,
      at: at.toISOString(),
      treeSize,
      state,
      assessment: state ? { ...assessAt(state, at, sloTargetsOf(this.config)), protection: assessProtection(state, at) } : null,
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

  /** Events by filter, oldest first, `limit` per page; `cursor` is the last log index of the previous page. */
  async events(filter: { resource?: string; type?: string; from?: Date; to?: Date; cursor?: number; limit: number }) {
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
    params.push(filter.limit + 1);
    const rows = await this.dataSource.query(
      `select * from audit.log_entries where ${where.join(' and ')} order by log_index limit $${params.length}`,
      params,
    );
    const page = rows.slice(0, filter.limit).map(toEntry);
    return { events: page, nextCursor: rows.length > filter.limit ? page[page.length - 1]!.logIndex : null };
  }

  /** One event with its inclusion proof against the latest signed head (if that head covers it). */
  async event(eventId: string) {
    const [row] = await this.dataSource.query('select * from audit.log_entries where event_id = $1', [eventId]);
    if (!row) throw new NotFoundInLedgerError('AUDIT.EVENT_NOT_FOUND', `no event ${eventId} in the ledger`);
    const entry = toEntry(row);
    const head = await this.heads.latestCached();
    const inclusion =
      head && head.treeSize > entry.logIndex
        ? { treeSize: head.treeSize, proof: await this.proofs.inclusion(entry.logIndex, head.treeSize) }
        : null;
    return { ...entry, signedHead: head, inclusion };
  }

  /** Entries [from, to) of the log by index, for offline verification. */
  async entriesByIndex(from: number, to: number): Promise<StoredEntry[]> {
    return (
      await this.dataSource.query('select * from audit.log_entries where log_index >= $1 and log_index < $2 order by log_index', [from, to])
    ).map(toEntry);
  }
}
