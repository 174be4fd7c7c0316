import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One row per (channel, notified event): claimed before the channel is called, so instances that
 * share the notifier's consumer tell each channel about an event once, and the same news (type,
 * resource, key) within the de-duplication window is suppressed across instances too.
 */
export class Notifications1764280028000 implements MigrationInterface {
  name = 'Notifications1764280028000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      create table audit.notifications (
        channel text not null,
        event_id uuid not null,
        event_type text not null,
        resource text not null,
        dedup_key text not null,
        status text not null check (status in ('pending', 'delivered', 'refused', 'suppressed')),
        notice_id uuid not null,
        attempts int not null default 0,
        http_status int,
        reason text,
        claimed_at timestamptz not null default now(),
        finished_at timestamptz,
        primary key (channel, event_id)
      )`);
    await q.query(`create index notifications_dedup on audit.notifications (channel, event_type, resource, dedup_key, claimed_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`drop table audit.notifications`);
  }
}
