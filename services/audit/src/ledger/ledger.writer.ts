import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { checkProvenance, Envelope, ProvenancePolicy } from '@continuity/contracts';
import { provenancePolicyOf, SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig } from '../config/audit.config.js';
import { WRITER_LOCK } from '../database/advisory-locks.js';
import { foldEntries, ProjectedResource } from '../resource-state/projection-fold.js';
import { ProjectionRebuildService } from '../resource-state/projection-rebuild.service.js';
import { LedgerEntry, ResourceState, SloTargets } from '../resource-state/resource-state.projection.js';
import { sloTargetsOf } from '../resource-state/slo-targets.js';
import { insertSnapshotsSql, snapshotRows, stateRows, upsertStatesSql } from '../resource-state/projection-rows.js';
import { appendLeaf, EMPTY_FRONTIER, Frontier, frontierRoot, frontierShape, SubtreeNode } from './frontier.js';
import { canonicalLeaf } from '@continuity/contracts/ledger';
import { WriterLease } from '../database/writer-lease.js';

interface Pending {
  event: Envelope;
  published: unknown;
  streamSeq: number;
  resolve: () => void;
  reject: (error: unknown) => void;
  /** Set when the event came through the inbox: its row goes in the same transaction as the append. */
  inboxRow?: number;
  /** Its canonical text and leaf hash, made as it arrives (while the previous batch commits). */
  leaf?: { text: string; hash: Buffer };
}

/** How often the writer looks for events a standby left in the inbox. */
const INBOX_POLL_MS = 200;

export interface AppendedBatch {
  firstIndex: number;
  count: number;
  treeSize: number;
  types: string[];
}

const log2 = (n: number) => Math.round(Math.log2(n));

interface EntryRow {
  index: number;
  pending: Pending;
  /** The envelope's canonical JSON text (RFC 8785), whose leaf hash is `leaf`. */
  text: string;
  leaf: Buffer;
  untrusted: string | null;
}

/**
 * A batch's entries as one JSON document for `jsonb_to_recordset`. Each envelope goes in as the
 * canonical text already hashed (valid JSON), spliced in rather than serialised a second time.
 */
const entriesDocument = (rows: readonly EntryRow[]): string => {
  const parts: string[] = new Array(rows.length);
  for (let k = 0; k < rows.length; k++) {
    const { index, pending, text, leaf, untrusted } = rows[k]!;
    const { id, type, resource, occurredAt } = pending.event;
    parts[k] =
      `{"i":${index},"id":${JSON.stringify(id)},"t":${JSON.stringify(type)},"r":${JSON.stringify(resource)},"o":${JSON.stringify(occurredAt)},` +
      `"s":${pending.streamSeq},"h":"${leaf.toString('hex')}","u":${JSON.stringify(untrusted)},"e":${text}}`;
  }
  return `[${parts.join(',')}]`;
};

/** Callers resolved per turn of the event loop once their batch has committed (`settleInSlices`). */
const SETTLE_SLICE = 100;

/**
 * Resolves a committed batch's callers a slice per turn of the event loop. Each resolution acks a
 * message and lets the transport start the next one (parse, validate, serialise, hash): done for a
 * whole batch at once, that work would hold back the next batch's queries, which wait for the loop.
 * In slices, PostgreSQL works on the next batch meanwhile. Acks still follow the commit.
 */
const settleInSlices = (batch: Pending[], from: number) => {
  const to = Math.min(from + SETTLE_SLICE, batch.length);
  for (let i = from; i < to; i++) batch[i]!.resolve();
  if (to < batch.length) setImmediate(settleInSlices, batch, to);
};

/** PostgreSQL refused the data itself (SQLSTATE class 22 data exception, 23 constraint), not the connection. */
const isDataError = (error: unknown): boolean => {
  const code = (error as { code?: unknown; driverError?: { code?: unknown } })?.code ?? (error as { driverError?: { code?: unknown } })?.driverError?.code;
  return typeof code === 'string' && /^2[23]/.test(code);
};

/**
 * Appends events to the ledger in batches: many events per transaction, each with the next
 * contiguous log index, its leaf hash, the Merkle nodes it completes, and the projections of the
 * resources it touches — all committed together. A caller's promise resolves only after the
 * commit, so the transport acks only durable entries. Redelivered or re-published events (same id)
 * are skipped: they change nothing.
 *
 * Only the instance holding the writer lease appends. A standby still receives its share of the
 * durable consumer's messages; it commits them to `audit.ledger_inbox` (and only then acks), and
 * the writer appends them from there, removing each inbox row in the transaction that appends it.
 * Holding messages unacked instead would strand them with the standby for as long as the writer
 * lives.
 */
@Injectable()
export class LedgerWriter implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(LedgerWriter.name);
  private frontier: Frontier = EMPTY_FRONTIER;
  private lastRecordedAt = 0;
  /** Projections as committed; valid while this instance is the only writer (checked per batch). */
  private states = new Map<string, ProjectedResource>();
  private queue: Pending[] = [];
  private draining: Promise<void> | null = null;
  private readonly listeners: ((batch: AppendedBatch) => void)[] = [];
  private readonly targets: SloTargets;
  private readonly provenance: ProvenancePolicy;
  private inboxTimer?: NodeJS.Timeout;
  /** Inbox rows queued and not yet committed: not read again until they are. */
  private inboxInFlight = false;
  private started?: Promise<void>;
  /** The lease was decided and the head loaded (`start`). */
  private ready = false;
  private destroyed = false;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
    rebuilder: ProjectionRebuildService,
    private readonly lease: WriterLease,
  ) {
    this.targets = sloTargetsOf(config);
    this.provenance = provenancePolicyOf(config);
    // Projections replaced in the database make the cached ones stale.
    rebuilder.onReplaced(() => this.forgetProjections());
    // A new writer starts from what the database holds, not from what it saw while standing by.
    lease.onChange((held) => {
      if (held) void this.reload().catch((error: Error) => this.logger.error(`could not reload the ledger head: ${error.message}`));
    });
  }

  async onModuleInit() {
    await this.start();
  }

  /**
   * Decides the lease and loads the head, once: at module init or at the first message, whichever
   * comes first (Nest starts the transport before it runs init hooks). Until then an event cannot
   * tell whether to append or hand over, and handing a future writer's events over to its own inbox
   * writes them twice. A failure (the database down) is tried again by the next caller.
   */
  private start(): Promise<void> {
    this.started ??= (async () => {
      await this.lease.start();
      await this.reload();
      this.logger.log(`ledger holds ${this.frontier.size} entries, root ${frontierRoot(this.frontier).toString('hex')}`);
      if (!this.destroyed) this.inboxTimer ??= setInterval(() => void this.pollInbox().catch((error: Error) => this.logger.error(`reading the ledger inbox failed: ${error.message}`)), INBOX_POLL_MS);
      this.ready = true;
    })().catch((error: unknown) => {
      this.started = undefined;
      throw error;
    });
    return this.started;
  }

  onModuleDestroy() {
    this.destroyed = true; // a start still under way must not leave a timer behind
    clearInterval(this.inboxTimer);
  }

  private async reload() {
    await this.dataSource.transaction(async (tx) => {
      const { size, recordedAt } = await this.currentSize(tx);
      this.frontier = await this.loadFrontier(tx, size);
      this.lastRecordedAt = Math.max(this.lastRecordedAt, recordedAt);
      this.states = new Map();
    });
    for (const listener of this.listeners) listener({ firstIndex: this.frontier.size, count: 0, treeSize: this.frontier.size, types: [] });
  }

  /** Entries stored now, read from the database (a standby's own head lags behind the writer's). */
  async storedSize(): Promise<number> {
    if (this.lease.isWriter) return this.frontier.size;
    const [row] = await this.dataSource.query('select coalesce(max(log_index) + 1, 0) as n from audit.log_entries');
    return Number(row.n);
  }

  /** The writer appends what standbys left in the inbox, through the same queue as its own events. */
  private async pollInbox() {
    if (!this.lease.isWriter || this.inboxInFlight) return;
    const rows: { received: string; event: Envelope; published: unknown; stream_seq: string }[] = await this.dataSource.query(
      'select received, event, published, stream_seq from audit.ledger_inbox order by received limit $1',
      [this.config.AUDIT_BATCH_SIZE],
    );
    if (rows.length === 0) return;
    this.inboxInFlight = true;
    const appended = rows.map(
      (row) =>
        new Promise<void>((resolve, reject) => {
          this.enqueue({ event: row.event, published: row.published, streamSeq: Number(row.stream_seq), inboxRow: Number(row.received), resolve, reject });
        }),
    );
    // A failed append leaves its row in the inbox for the next poll.
    await Promise.allSettled(appended).finally(() => (this.inboxInFlight = false));
  }

  /** Entries committed so far, and the root over them. */
  get head(): { treeSize: number; rootHash: string } {
    return { treeSize: this.frontier.size, rootHash: frontierRoot(this.frontier).toString('hex') };
  }

  /** Drop cached projections (after they were rebuilt in the database). */
  private forgetProjections() {
    this.states = new Map();
  }

  onAppended(listener: (batch: AppendedBatch) => void) {
    this.listeners.push(listener);
  }

  /**
   * Queues one event; resolves once it (or the entry it duplicates) is committed to the ledger, or,
   * on a standby, to the inbox the writer appends from.
   */
  append(event: Envelope, published: unknown, streamSeq: number): Promise<void> {
    const queued = () => new Promise<void>((resolve, reject) => this.enqueue({ event, published, streamSeq, resolve, reject }));
    return this.ready ? queued() : this.start().then(queued);
  }

  private enqueue(pending: Pending) {
    // Serialised and hashed now, not when its batch is cut: the work overlaps the commit before it.
    if (this.lease.isWriter) pending.leaf = canonicalLeaf(pending.published);
    this.queue.push(pending);
    this.draining ??= this.drain().finally(() => (this.draining = null));
  }

  /** The writer appends; a standby hands over through the inbox. Decided per batch: the lease can move. */
  private persist(batch: Pending[]): Promise<AppendedBatch> {
    return this.lease.isWriter ? this.write(batch) : this.handOver(batch);
  }

  private async handOver(batch: Pending[]): Promise<AppendedBatch> {
    await this.dataSource.query(
      `insert into audit.ledger_inbox (event_id, stream_seq, event, published)
       select x.id, x.s, x.e, x.p from jsonb_to_recordset($1::jsonb) as x(id uuid, s bigint, e jsonb, p jsonb)
       on conflict (event_id) do nothing`,
      [JSON.stringify(batch.map((p) => ({ id: p.event.id, s: p.streamSeq, e: p.event, p: p.published })))],
    );
    return { firstIndex: this.frontier.size, count: 0, treeSize: this.frontier.size, types: [] };
  }

  private async drain() {
    // Let the transport hand over every message it already has before the first batch is cut.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.config.AUDIT_BATCH_SIZE);
      try {
        this.committed(batch, await this.persist(batch));
      } catch (error) {
        if (batch.length === 1 || !isDataError(error)) {
          this.logger.error(`ledger batch of ${batch.length} failed, will be redelivered: ${(error as Error).message}`);
          for (const pending of batch) pending.reject(error);
          continue;
        }
        // One event the database refuses (e.g. a \u0000 that jsonb cannot hold) must not fail the
        // whole batch on every redelivery: write them one by one so only the culprit is retried.
        this.logger.warn(`ledger batch of ${batch.length} failed (${(error as Error).message}); writing its events one by one`);
        for (const pending of batch) {
          try {
            this.committed([pending], await this.persist([pending]));
          } catch (single) {
            this.logger.error(`ledger entry ${pending.event.id} failed, will be redelivered: ${(single as Error).message}`);
            pending.reject(single);
          }
        }
      }
    }
  }

  private committed(batch: Pending[], appended: AppendedBatch) {
    setImmediate(settleInSlices, batch, 0);
    if (appended.count > 0) for (const listener of this.listeners) listener(appended);
  }

  private async write(batch: Pending[]): Promise<AppendedBatch> {
    let committed: { frontier: Frontier; recordedAt: number; states: Map<string, ProjectedResource> } | null = null;
    const result = await this.dataSource.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [WRITER_LOCK]);
      // UUIDs compare in lower case: the database returns them so, a publisher may not send them so.
      const ids = [...new Set(batch.map((p) => p.event.id.toLowerCase()))];
      const [head] = await tx.query(
        `select (select log_index from audit.log_entries order by log_index desc limit 1) as last_index,
                (select recorded_at from audit.log_entries order by log_index desc limit 1) as last_recorded_at,
                (select coalesce(array_agg(event_id::text), '{}') from audit.log_entries where event_id = any($1::uuid[])) as known`,
        [ids],
      );
      const size = head.last_index === null ? 0 : Number(head.last_index) + 1;
      let frontier = this.frontier;
      let states = this.states;
      if (size !== frontier.size) {
        // Another instance wrote since we last looked (or a batch of ours rolled back): reload.
        frontier = await this.loadFrontier(tx, size);
        states = new Map();
      }
      // Inbox rows of this batch go with it, appended or not (a duplicate is done with too).
      const inboxRows = batch.flatMap((p) => (p.inboxRow === undefined ? [] : [p.inboxRow]));
      if (inboxRows.length) await tx.query('delete from audit.ledger_inbox where received = any($1::bigint[])', [inboxRows]);
      const known = new Set<string>(head.known);
      const recordedAt = Math.max(Date.now(), this.lastRecordedAt, head.last_recorded_at ? new Date(head.last_recorded_at).getTime() : 0);
      const recordedAtIso = new Date(recordedAt).toISOString();
      const rows: EntryRow[] = [];
      const nodes: SubtreeNode[] = [];
      for (const pending of batch) {
        const id = pending.event.id.toLowerCase();
        if (known.has(id)) continue;
        known.add(id);
        // One canonical serialisation per event: hashed for the leaf, stored as the envelope.
        const { text, hash: leaf } = (pending.leaf ??= canonicalLeaf(pending.published));
        const appended = appendLeaf(frontier, leaf);
        // Checked against the time it is recorded, so a rebuild folds exactly what was folded now.
        const verdict = checkProvenance(this.provenance, pending.event, recordedAt);
        const untrusted = verdict.trusted ? null : `${verdict.kind}: ${verdict.reason}`;
        if (untrusted) this.logger.warn(`ledger entry ${frontier.size} (${pending.event.type} ${pending.event.id}) recorded as untrusted, kept out of projections: ${untrusted}`);
        rows.push({ index: frontier.size, pending, text, leaf, untrusted });
        nodes.push(...appended.completed);
        frontier = appended.frontier;
      }
      if (rows.length === 0) return { firstIndex: frontier.size, count: 0, treeSize: frontier.size, types: [] };

      const projected = await this.project(
        tx,
        states,
        rows.filter((r) => r.untrusted === null).map((r) => ({ logIndex: r.index, recordedAt: recordedAtIso, event: r.pending.event })),
      );
      // One round trip for everything the batch writes (data-modifying CTEs run as one statement).
      // Entries and nodes travel as one JSON document each (far cheaper to encode than pg's text
      // arrays of JSON); projection states as their JSON texts, validated but not parsed (projection-rows.ts).
      await tx.query(
        `with entries as (
           insert into audit.log_entries (log_index, event_id, type, resource, occurred_at, recorded_at, stream_seq, envelope, leaf_hash, untrusted)
           select x.i, x.id, x.t, x.r, x.o, $2::timestamptz, x.s, x.e, decode(x.h, 'hex'), x.u
           from jsonb_to_recordset($1::jsonb) as x(i bigint, id uuid, t text, r text, o timestamptz, s bigint, e jsonb, h text, u text)
         ), nodes as (
           insert into audit.merkle_nodes (level, idx, hash)
           select x.l, x.i, decode(x.h, 'hex') from jsonb_to_recordset($3::jsonb) as x(l smallint, i bigint, h text)
         ), states as (
           ${upsertStatesSql(4)}
         )
         ${insertSnapshotsSql(8)}`,
        [
          entriesDocument(rows),
          recordedAtIso,
          JSON.stringify(nodes.map((n) => ({ l: log2(n.size), i: n.start / n.size, h: n.hash.toString('hex') }))),
          ...stateRows(projected.touched),
          ...snapshotRows(projected.snapshots),
        ],
      );
      committed = { frontier, recordedAt, states: projected.states };
      return { firstIndex: rows[0]!.index, count: rows.length, treeSize: frontier.size, types: rows.map((r) => r.pending.event.type) };
    });
    if (committed) {
      const done = committed as { frontier: Frontier; recordedAt: number; states: Map<string, ProjectedResource> };
      this.frontier = done.frontier;
      this.lastRecordedAt = done.recordedAt;
      this.states = done.states;
    }
    return result;
  }

  /**
   * Folds the batch into each touched resource's state (from the cache, or the database for a
   * resource not seen since start); snapshots every SNAPSHOT_EVERY entries of a resource. Pure apart
   * from that read: the cache given is not changed, the new one is returned for after the commit.
   */
  private async project(tx: EntityManager, cache: Map<string, ProjectedResource>, entries: LedgerEntry[]) {
    const resources = [...new Set(entries.map((e) => e.event.resource))];
    const starting = new Map(cache);
    const missing = resources.filter((r) => !starting.has(r));
    if (missing.length) {
      const rows: { resource: string; state: ResourceState; entry_count: string }[] = await tx.query(
        'select resource, state, entry_count from audit.resource_states where resource = any($1::text[])',
        [missing],
      );
      for (const row of rows) starting.set(row.resource, { state: row.state, count: Number(row.entry_count) });
    }
    const { states, snapshots } = foldEntries(starting, entries, this.targets);
    const touched = resources.map((r) => [r, states.get(r)!] as [string, ProjectedResource]);
    return { states, touched, snapshots };
  }

  private async currentSize(tx: EntityManager): Promise<{ size: number; recordedAt: number }> {
    const [row] = await tx.query(
      `select log_index, recorded_at from audit.log_entries order by log_index desc limit 1`,
    );
    return row ? { size: Number(row.log_index) + 1, recordedAt: new Date(row.recorded_at).getTime() } : { size: 0, recordedAt: 0 };
  }

  /** Rebuilds the in-memory frontier for `size` entries from O(log n) stored hashes. */
  private async loadFrontier(tx: EntityManager, size: number): Promise<Frontier> {
    const shape = frontierShape(size);
    const nodes: SubtreeNode[] = [];
    for (const { start, size: s } of shape) {
      const [row] =
        s === 1
          ? await tx.query('select leaf_hash as hash from audit.log_entries where log_index = $1', [start])
          : await tx.query('select hash from audit.merkle_nodes where level = $1 and idx = $2', [log2(s), start / s]);
      if (!row) throw new Error(`ledger is inconsistent: no stored hash for subtree (${start}, ${s}) of a ${size}-entry log`);
      nodes.push({ start, size: s, hash: row.hash as Buffer });
    }
    return { size, nodes };
  }
}
