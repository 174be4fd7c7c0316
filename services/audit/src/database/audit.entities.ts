import { Column, Entity, Index, PrimaryColumn, ValueTransformer } from 'typeorm';

/** bigint columns come back from pg as strings; log indices stay far below 2^53. */
const bigintAsNumber: ValueTransformer = {
  to: (value: number | null) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};

/** One event in the append-only ledger. Rows are never updated or deleted (a trigger refuses it). */
@Entity({ schema: 'audit', name: 'log_entries' })
export class LogEntryEntity {
  @PrimaryColumn({ name: 'log_index', type: 'bigint', transformer: bigintAsNumber })
  logIndex!: number;

  @Column({ name: 'event_id', type: 'uuid', unique: true })
  eventId!: string;

  @Column({ type: 'text' })
  type!: string;

  @Index()
  @Column({ type: 'text' })
  resource!: string;

  @Column({ name: 'occurred_at', type: 'timestamptz' })
  occurredAt!: Date;

  @Column({ name: 'recorded_at', type: 'timestamptz' })
  recordedAt!: Date;

  @Column({ name: 'stream_seq', type: 'bigint', transformer: bigintAsNumber })
  streamSeq!: number;

  /** The envelope as published (not upcast): what the leaf hash covers. */
  @Column({ type: 'jsonb' })
  envelope!: Record<string, unknown>;

  @Column({ name: 'leaf_hash', type: 'bytea' })
  leafHash!: Buffer;

  /** Why the event was not acted on (its source may not publish it, or it is dated ahead); null: it was. */
  @Column({ type: 'text', nullable: true })
  untrusted!: string | null;
}

/** Hash of a perfect aligned subtree of size 2^level ≥ 2 covering leaves [idx·2^level, (idx+1)·2^level). */
@Entity({ schema: 'audit', name: 'merkle_nodes' })
export class MerkleNodeEntity {
  @PrimaryColumn({ type: 'smallint' })
  level!: number;

  @PrimaryColumn({ type: 'bigint', transformer: bigintAsNumber })
  idx!: number;

  @Column({ type: 'bytea' })
  hash!: Buffer;
}

/** A signed tree head: Ed25519 over JCS({treeSize, rootHash, timestamp}). */
@Entity({ schema: 'audit', name: 'tree_heads' })
export class TreeHeadEntity {
  @PrimaryColumn({ name: 'tree_size', type: 'bigint', transformer: bigintAsNumber })
  treeSize!: number;

  @Column({ name: 'root_hash', type: 'text' })
  rootHash!: string;

  /** ISO-8601 text exactly as signed. */
  @Column({ type: 'text' })
  timestamp!: string;

  @Column({ type: 'text' })
  signature!: string;

  @Column({ name: 'key_id', type: 'text' })
  keyId!: string;
}

/** Current continuity state per resource, folded in the same transaction as its log entries. */
@Entity({ schema: 'audit', name: 'resource_states' })
export class ResourceStateEntity {
  @PrimaryColumn({ type: 'text' })
  resource!: string;

  @Column({ type: 'json' })
  state!: Record<string, unknown>;

  @Column({ name: 'log_index', type: 'bigint', transformer: bigintAsNumber })
  logIndex!: number;

  @Column({ name: 'entry_count', type: 'bigint', transformer: bigintAsNumber })
  entryCount!: number;
}

/** The state of a resource right after one of its entries, kept every N entries for fast `?at=`. */
@Entity({ schema: 'audit', name: 'resource_snapshots' })
export class ResourceSnapshotEntity {
  @PrimaryColumn({ type: 'text' })
  resource!: string;

  @PrimaryColumn({ name: 'log_index', type: 'bigint', transformer: bigintAsNumber })
  logIndex!: number;

  @Column({ type: 'json' })
  state!: Record<string, unknown>;
}

export const AUDIT_ENTITIES = [LogEntryEntity, MerkleNodeEntity, TreeHeadEntity, ResourceStateEntity, ResourceSnapshotEntity];
