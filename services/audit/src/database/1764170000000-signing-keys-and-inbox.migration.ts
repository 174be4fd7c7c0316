import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ledger's key history, and the inbox through which a standby instance hands events to the
 * writer.
 *
 * Every key that ever signed a head is kept, so old heads still verify after a key change and an
 * instance with another key (a second installation, a lost key file) is not mistaken for
 * tampering. Heads signed before this history existed name a key whose public key was never
 * stored: such a key is recorded without it (`public_key_pem` null) and vouches only for heads up
 * to `legacy_through_tree_size`; the service fills the key in when it starts with it.
 */
export class SigningKeysAndInbox1764170000000 implements MigrationInterface {
  name = 'SigningKeysAndInbox1764170000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      create table audit.signing_keys (
        key_id                   text primary key check (key_id ~ '^[0-9a-f]{64}$'),
        public_key_pem           text,
        first_used_at            timestamptz not null default now(),
        introduced_at_tree_size  bigint not null check (introduced_at_tree_size >= 0),
        previous_key_id          text references audit.signing_keys (key_id),
        attestation              text,
        legacy_through_tree_size bigint,
        check (public_key_pem is not null or legacy_through_tree_size is not null)
      )`);
    await q.query(`
      insert into audit.signing_keys (key_id, introduced_at_tree_size, legacy_through_tree_size)
      select key_id, min(tree_size), max(tree_size) from audit.tree_heads group by key_id`);
    // Keys are history too: never removed or changed, except a legacy key's public key filled in once.
    await q.query(`
      create function audit.refuse_key_change() returns trigger language plpgsql as $$
      begin
        if tg_op = 'UPDATE' and old.public_key_pem is null and new.key_id = old.key_id
           and new.introduced_at_tree_size = old.introduced_at_tree_size
           and new.legacy_through_tree_size is not distinct from old.legacy_through_tree_size then
          return new;
        end if;
        raise exception 'audit signing keys are append-only: % on %.% refused', tg_op, tg_table_schema, tg_table_name;
      end $$`);
    await q.query(`
      create trigger signing_keys_append_only before update or delete on audit.signing_keys
      for each row execute function audit.refuse_key_change()`);
    await q.query(`
      create trigger signing_keys_no_truncate before truncate on audit.signing_keys
      for each statement execute function audit.refuse_history_change()`);
    // Not history: rows live from a standby's commit until the writer appends them.
    await q.query(`
      create table audit.ledger_inbox (
        received   bigserial primary key,
        event_id   uuid not null unique,
        stream_seq bigint not null,
        event      jsonb not null,
        published  jsonb not null
      )`);
    await q.query(`grant select on audit.signing_keys to continuity_auditor`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`drop table audit.ledger_inbox`);
    await q.query(`drop table audit.signing_keys`);
    await q.query(`drop function audit.refuse_key_change()`);
  }
}
