import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Events from an unknown or unauthorized source, or dated beyond the allowed skew into the future,
 * are still ledger entries (the log must hold everything the stream delivered, or it is not
 * complete), but `untrusted` says why they were not acted on; projections, history states and
 * reports leave them out. Null: acted on (entries recorded before this column existed were never
 * checked and stay as they were folded).
 */
export class UntrustedEntries1764180000000 implements MigrationInterface {
  name = 'UntrustedEntries1764180000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`alter table audit.log_entries add column untrusted text`);
    await q.query(`create index log_entries_untrusted on audit.log_entries (log_index) where untrusted is not null`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`drop index audit.log_entries_untrusted`);
    await q.query(`alter table audit.log_entries drop column untrusted`);
  }
}
