import { MigrationInterface, QueryRunner } from 'typeorm';

/** The ledger, its Merkle nodes, signed heads and projections; history cannot be changed through SQL. */
export class AuditLedger1764150000000 implements MigrationInterface {
  name = 'AuditLedger1764150000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`create schema if not exists audit`);
    await q.query(`
      create table audit.log_entries (
        log_index   bigint primary key check (log_index >= 0),
        event_id    uuid not null unique,
        type        text not null,
        resource    text not null,
        occurred_at timestamptz not null,
        recorded_at timestamptz not null,
        stream_seq  bigint not null,
        envelope    jsonb not null,
        leaf_hash   bytea not null check (length(leaf_hash) = 32)
      )`);
    await q.query(`create index log_entries_resource_idx on audit.log_entries (resource, log_index)`);
    await q.query(`create index log_entries_type_idx on audit.log_entries (type, log_index)`);
    await q.query(`create index log_entries_recorded_at_idx on audit.log_entries (recorded_at, log_index)`);
    await q.query(`
      create table audit.merkle_nodes (
        level smallint not null check (level >= 1),
        idx   bigint not null check (idx >= 0),
        hash  bytea not null check (length(hash) = 32),
        primary key (level, idx)
      )`);
    await q.query(`
      create table audit.tree_heads (
        tree_size bigint primary key,
        root_hash text not null,
        timestamp text not null,
        signature text not null,
        key_id    text not null
      )`);
    await q.query(`
      create table audit.resource_states (
        resource    text primary key,
        state       jsonb not null,
        log_index   bigint not null,
        entry_count bigint not null
      )`);
    await q.query(`
      create table audit.resource_snapshots (
        resource  text not null,
        log_index bigint not null,
        state     jsonb not null,
        primary key (resource, log_index)
      )`);
    // Append-only: the service never updates or deletes history; a mistaken or malicious statement
    // fails loudly. (Someone who disables the trigger is caught by the tamper check against heads.)
    await q.query(`
      create function audit.refuse_history_change() returns trigger language plpgsql as $$
      begin
        raise exception 'audit history is append-only: % on %.% refused', tg_op, tg_table_schema, tg_table_name;
      end $$`);
    for (const table of ['log_entries', 'merkle_nodes', 'tree_heads']) {
      await q.query(`
        create trigger ${table}_append_only before update or delete or truncate on audit.${table}
        for each statement execute function audit.refuse_history_change()`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`drop schema audit cascade`);
  }
}
