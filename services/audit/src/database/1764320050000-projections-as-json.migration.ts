import { MigrationInterface, QueryRunner } from 'typeorm';
import { continuityReportViewSql } from './1764160000000-auditor-views.migration.js';
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
    await q.query(continuityReportViewSql(type));
    await q.query(`grant select on audit.continuity_report to continuity_auditor`);
  }
}
