import { MigrationInterface, QueryRunner } from 'typeorm';
import { compressProjectionsWith } from './1764300033000-projection-compression.migration.js';

/**
 * Projection states (`resource_states.state`, `resource_snapshots.state`) are stored as `json`, not
 * `jsonb` (decision 0050). The writer rewrites tens of kilobytes of state per touched resource per
 * batch and a snapshot every 64 entries of a resource; parsing that into `jsonb` was most of what
 * PostgreSQL spent on a batch beyond its entries, while nothing queries inside a state but the
 * auditors' `continuity_report` view, which reads the same fields with the `json` functions. `json`
 * only validates the text and hands it back as stored. Entries (`log_entries.envelope`) stay `jsonb`.
 */
export class ProjectionsAsJson1764320050000 implements MigrationInterface {
  name = 'ProjectionsAsJson1764320050000';

  async up(q: QueryRunner): Promise<void> {
    await this.storeAs(q, 'json');
  }

  async down(q: QueryRunner): Promise<void> {
    await this.storeAs(q, 'jsonb');
  }

  private async storeAs(q: QueryRunner, type: 'json' | 'jsonb') {
    // The view reads the column: it goes while the column's type changes, and comes back as it was.
    await q.query(`drop view audit.continuity_report`);
    await q.query(`alter table audit.resource_states alter column state type ${type} using state::${type}`);
    await q.query(`alter table audit.resource_snapshots alter column state type ${type} using state::${type}`);
    await compressProjectionsWith(q, 'lz4');
    await q.query(`
      create view audit.continuity_report as
      select s.resource,
             (s.state->'lastBackup'->>'createdAt')::timestamptz as last_backup_at,
             (s.state->'lastVerified'->>'recoveryPoint')::timestamptz as last_verified_recovery_point,
             extract(epoch from now() - (s.state->'lastVerified'->>'recoveryPoint')::timestamptz) as rpo_exposure_seconds,
             coalesce((s.state->'lastVerified'->'threeTwoOne'->>'compliant')::boolean, false) as three_two_one_compliant,
             (s.state->'counts'->>'backupsTaken')::int as backups_taken,
             (s.state->'counts'->>'verificationsPassed')::int as verifications_passed,
             (s.state->'counts'->>'verificationsFailed')::int as verifications_failed,
             (s.state->'counts'->>'backupsFailed')::int as backups_failed,
             (s.state->'counts'->>'failovers')::int as failovers,
             (select max((f->>'rtoMs')::numeric) from ${type}_array_elements(s.state->'failovers') f) as worst_rto_ms,
             1 - ((s.state->>'downtimeMs')::numeric / 1000)
               / greatest(extract(epoch from now() - (s.state->>'trackedSince')::timestamptz), 1) as availability,
             ${type}_array_length(s.state->'sloBreaches') as slo_breaches,
             s.log_index as as_of_log_index
      from audit.resource_states s`);
    await q.query(`grant select on audit.continuity_report to continuity_auditor`);
  }
}
