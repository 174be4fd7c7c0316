import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { ContinuityPublisher, DomainError } from '@continuity/contracts';
import { PG_POOL, PUBLISHER, SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig } from '../config/audit.config.js';
import { LedgerWriter } from '../ledger/ledger.writer.js';
import { WriterLease } from '../database/writer-lease.js';
import { SigningKeysService } from './signing-keys.service.js';
import { SignedTreeHead } from '@continuity/contracts/ledger';

/** A `tree_heads` row (or its `row_to_json`) as the head it stores. */
export const headFromRow = (row: Record<string, unknown>): SignedTreeHead => ({
  treeSize: Number(row.tree_size),
  rootHash: String(row.root_hash),
  timestamp: String(row.timestamp),
  signature: String(row.signature),
  keyId: String(row.key_id),
});

/** The first signed head covering at least `size` (an SQL expression) entries: one row or none. */
export const HEAD_AT_OR_AFTER_SQL = (size: string) =>
  `select tree_size, root_hash, timestamp, signature, key_id from audit.tree_heads where tree_size >= ${size} order by tree_size asc limit 1`;

const HEAD_AT_OR_AFTER = { name: 'audit-head-at-or-after', text: HEAD_AT_OR_AFTER_SQL('$1::bigint') };

/** No signed head answers the question (the ledger is empty, or not yet signed that far): 404. */
export class NoSignedHeadError extends DomainError {
  constructor(message: string) {
    super('AUDIT.NO_SIGNED_HEAD', message, 404);
  }
}

/**
 * Signs the ledger's head every few seconds while it grows (and on request), stores the signed
 * head and announces it as `AuditCheckpointSigned`. The private key never leaves this process.
 * The ledger does not record its own checkpoint events (see LedgerListener), so a head never
 * causes the next one. Only the writer signs (its head is the current one), and only once its key
 * is in the ledger's key history, so every stored head names a key the ledger holds.
 */
@Injectable()
export class TreeHeadsService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(TreeHeadsService.name);
  private grown = true;
  private keyRegistered = false;
  private timer?: NodeJS.Timeout;
  private signing: Promise<SignedTreeHead | null> | null = null;
  /** The newest head this instance knows; refreshed when it signs and on each tick. */
  private newest: SignedTreeHead | null = null;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
    @Inject(PUBLISHER) private readonly publisher: ContinuityPublisher,
    private readonly writer: LedgerWriter,
    private readonly keys: SigningKeysService,
    private readonly lease: WriterLease,
  ) {
    writer.onAppended(() => (this.grown = true));
  }

  async onApplicationBootstrap() {
    this.newest = await this.latest();
    await this.registerKey();
    this.timer = setInterval(() => {
      if (!this.keyRegistered) void this.registerKey();
      else if (this.grown && this.lease.isWriter) void this.signNow().catch((error: Error) => this.logger.error(`signing failed: ${error.message}`));
      else void this.latest().catch(() => undefined); // the writer may have signed
    }, this.config.AUDIT_SIGN_INTERVAL_MS);
  }

  /** Retried every interval until it succeeds (PostgreSQL or NATS may be away at start). */
  private async registerKey() {
    try {
      await this.keys.register();
      this.keyRegistered = true;
    } catch (error) {
      this.logger.error(`could not record the signing key in the ledger's key history, not signing until it is: ${(error as Error).message}`);
    }
  }

  /**
   * The newest signed head without a database round trip (at most one signing interval old when
   * another instance signs). Proofs against it are as valid as against the very latest.
   */
  async latestCached(): Promise<SignedTreeHead | null> {
    return this.newest ?? this.latest();
  }

  onModuleDestroy() {
    clearInterval(this.timer);
  }

  /** Signs the current head unless it is already signed (or this instance may not sign); returns the latest signed head. */
  signNow(): Promise<SignedTreeHead | null> {
    this.signing ??= this.sign().finally(() => (this.signing = null));
    return this.signing;
  }

  private async sign(): Promise<SignedTreeHead | null> {
    if (!this.lease.isWriter || !this.keyRegistered) return this.latest();
    this.grown = false;
    const latest = await this.latest();
    const { treeSize, rootHash } = this.writer.head;
    if (treeSize === 0 || (latest && latest.treeSize >= treeSize)) return latest;
    const head = this.keys.sign({ treeSize, rootHash, timestamp: new Date().toISOString() });
    await this.dataSource.query(
      'insert into audit.tree_heads (tree_size, root_hash, timestamp, signature, key_id) values ($1, $2, $3, $4, $5) on conflict do nothing',
      [head.treeSize, head.rootHash, head.timestamp, head.signature, head.keyId],
    );
    this.newest = head;
    // Stored first, announced second: a crash or NATS outage in between leaves a stored head
    // without its announcement, which the tamper check announces then (`announce`).
    await this.announce(head);
    this.logger.debug?.(`signed tree head ${head.treeSize} ${head.rootHash}`);
    return head;
  }

  /** Publishes `head` as `AuditCheckpointSigned` (again, when an earlier announcement was lost). */
  async announce(head: SignedTreeHead): Promise<void> {
    await this.publisher.publish('AuditCheckpointSigned', { resource: 'audit-ledger', data: head });
  }

  async latest(): Promise<SignedTreeHead | null> {
    const [row] = await this.dataSource.query('select * from audit.tree_heads order by tree_size desc limit 1');
    const head = row ? headFromRow(row) : null;
    if (head && (!this.newest || head.treeSize > this.newest.treeSize)) this.newest = head;
    return head;
  }

  /** The first signed head covering at least `size` entries (every state-as-of read asks: a named statement on the pool). */
  async atOrAfter(size: number): Promise<SignedTreeHead | null> {
    const {
      rows: [row],
    } = await this.pool.query({ ...HEAD_AT_OR_AFTER, values: [size] });
    return row ? headFromRow(row) : null;
  }

  /** Heads covering more than `from` and at most `to` entries, oldest first. */
  async between(from: number, to: number): Promise<SignedTreeHead[]> {
    return (await this.dataSource.query('select * from audit.tree_heads where tree_size > $1 and tree_size <= $2 order by tree_size asc', [from, to])).map(headFromRow);
  }

  /** Up to `limit` heads covering more than `after` entries, oldest first: one page of `GET /audit/tree-heads`. */
  async page(after: number, limit: number): Promise<SignedTreeHead[]> {
    return (await this.dataSource.query('select * from audit.tree_heads where tree_size > $1 order by tree_size asc limit $2', [after, limit])).map(headFromRow);
  }

  async all(): Promise<SignedTreeHead[]> {
    return (await this.dataSource.query('select * from audit.tree_heads order by tree_size asc')).map(headFromRow);
  }
}
