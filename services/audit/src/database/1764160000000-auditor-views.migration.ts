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
             (r."lastBackup"->>'createdAt')::timestamptz as last_backup_at,
             (r."lastVerified"->>'recoveryPoint')::timestamptz as last_verified_recovery_point,
             extract(epoch from now() - (r."lastVerified"->>'recoveryPoint')::timestamptz) as rpo_exposure_seconds,
             coalesce((r."lastVerified"->'threeTwoOne'->>'compliant')::boolean, false) as three_two_one_compliant,
             (r.counts->>'backupsTaken')::int as backups_taken,
             (r.counts->>'verificationsPassed')::int as verifications_passed,
             (r.counts->>'verificationsFailed')::int as verifications_failed,
             (r.counts->>'backupsFailed')::int as backups_failed,
             (r.counts->>'failovers')::int as failovers,
             (select max((f->>'rtoMs')::numeric) from ${type}_array_elements(r.failovers) f) as worst_rto_ms,
             1 - (r."downtimeMs" / 1000) / greatest(extract(epoch from now() - r."trackedSince"), 1) as availability,
             ${type}_array_length(r."sloBreaches") as slo_breaches,
             s.log_index as as_of_log_index
      from audit.resource_states s,
           -- The fields read, taken out of the state in one pass (a json state is parsed once per row,
           -- not once per field: over a state's tens of kilobytes that is most of the view's cost).
           ${type}_to_record(s.state) as r("lastBackup" ${type}, "lastVerified" ${type}, counts ${type}, failovers ${type},
                                          "downtimeMs" numeric, "trackedSince" timestamptz, "sloBreaches" ${type})`;
