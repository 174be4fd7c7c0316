import { MigrationInterface, QueryRunner } from 'typeorm';
import { continuityReportViewSql } from './1764160000000-auditor-views.migration.js';

/**
 * Projection states (`resource_states.state`, `resource_snapshots.state`) are stored as `json`, not
 * `jsonb` (decision 0050). The writer rewrites tens of kilobytes of state per touched resource per
 * batch and a snapshot every 64 entries of a resource; parsing that into `jsonb` was most of what
 * PostgreSQL spent on a batch beyond its entries, while nothing queries inside a state but the
 * auditors' `continuity_report` view, which takes its fields out of a state in one pass. `json`
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
    // Changing the type rewrites every row and resets the column's compression: both in one
    // statement, so the rows are rewritten with lz4 (kept as they were by a server without it).
    for (const table of ['resource_states', 'resource_snapshots']) {
      await q.query(`
        do $$
        begin
          alter table audit.${table} alter column state type ${type} using state::${type}, alter column state set compression lz4;
        exception when feature_not_supported then
          raise notice 'compression method lz4 is not supported by this server; projections keep the default';
          alter table audit.${table} alter column state type ${type} using state::${type};
        end $$`);
    }
    await q.query(continuityReportViewSql(type));
    await q.query(`grant select on audit.continuity_report to continuity_auditor`);
  }
}
