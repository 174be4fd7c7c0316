import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Views auditors can query with their own SQL tools, and the read-only role `continuity_auditor`
 * that may read them (grant it to a login role: `grant continuity_auditor to alice`).
 */
export class AuditorViews1764160000000 implements MigrationInterface {
  name = 'AuditorViews1764160000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      create view audit.backups as
      select e.resource,
             e.envelope->'data'->>'backupId' as backup_id,
             (e.envelope->'data'->>'recoveryPoint')::timestamptz as recovery_point,
             e.occurred_at as created_at,
             (e.envelope->'data'->>'sizeBytes')::bigint as size_bytes,
             jsonb_array_length(e.envelope->'data'->'copies') as copies,
             v.verdict,
             v.verified_at,
             e.log_index
      from audit.log_entries e
      left join lateral (
        select i.envelope->'data'->>'verdict' as verdict, i.occurred_at as verified_at
        from audit.log_entries i
        where i.type = 'IntegrityVerified' and i.resource = e.resource
          and i.envelope->'data'->>'backupId' = e.envelope->'data'->>'backupId'
        order by i.log_index desc limit 1
      ) v on true
      where e.type = 'BackupCreated'`);
    await q.query(`
      create view audit.failovers as
      select resource,
             envelope->'data'->>'failoverId' as failover_id,
             envelope->'data'->>'newPrimary' as new_primary,
             (envelope->'data'->>'rtoMs')::numeric as rto_ms,
             (envelope->'data'->>'replicationLagBytes')::bigint as replication_lag_bytes,
             (envelope->'data'->'timeline'->>'routedAt')::timestamptz as completed_at,
             log_index
      from audit.log_entries
      where type = 'FailoverCompleted'`);
    await q.query(continuityReportViewSql('jsonb'));
    await q.query(`
      do $$ begin
        if not exists (select 1 from pg_roles where rolname = 'continuity_auditor') then
          create role continuity_auditor nologin;
        end if;
      end $$`);
    await q.query(`grant usage on schema audit to continuity_auditor`);
    await q.query(`grant select on all tables in schema audit to continuity_auditor`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`revoke all on all tables in schema audit from continuity_auditor`);
    await q.query(`revoke usage on schema audit from continuity_auditor`);
    await q.query(`drop view audit.continuity_report`);
    await q.query(`drop view audit.failovers`);
    await q.query(`drop view audit.backups`);
  }
}

/**
 * The auditors' per-resource view of the projection states, for states stored as `type`
 * (`jsonb` until ProjectionsAsJson1764320050000, `json` since).
 */
export const continuityReportViewSql = (type: 'json' | 'jsonb') => `
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
             (select max((f->>'rtoMs')::numeric) from jsonb_array_elements(s.state->'failovers') f) as worst_rto_ms,
             1 - ((s.state->>'downtimeMs')::numeric / 1000)
               / greatest(extract(epoch from now() - (s.state->>'trackedSince')::timestamptz), 1) as availability,
             jsonb_array_length(s.state->'sloBreaches') as slo_breaches,
             s.log_index as as_of_log_index
      from ${
        type === 'jsonb'
          ? 'audit.resource_states s'
          : // Parsed once per row (`offset 0` keeps the cast from being repeated at each use): every
            // operator on a json value parses the whole text again, ≈ 40× slower over 14 fields.
            '(select resource, log_index, state::jsonb as state from audit.resource_states offset 0) s'
      }`;
