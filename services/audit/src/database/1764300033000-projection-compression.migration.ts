import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Projection states (`resource_states.state`, `resource_snapshots.state`) are tens of kilobytes of
 * JSON once a resource retains many backups, rewritten on every ledger batch that touches the
 * resource: they are compressed with LZ4 rather than pglz, which costs the writer markedly less CPU
 * per batch and reads back faster. Only the compression of values written from now on changes;
 * existing values stay readable as they are. A server built without LZ4 keeps pglz.
 */
export class ProjectionCompression1764300033000 implements MigrationInterface {
  name = 'ProjectionCompression1764300033000';

  async up(q: QueryRunner): Promise<void> {
    await compressProjectionsWith(q, 'lz4');
  }

  async down(q: QueryRunner): Promise<void> {
    await compressProjectionsWith(q, 'pglz');
  }
}

/** Sets the compression of values written from now on to both projection columns (kept by a server without `method`). */
export const compressProjectionsWith = async (q: QueryRunner, method: 'lz4' | 'pglz') => {
  await q.query(`
    do $$
    begin
      alter table audit.resource_states alter column state set compression ${method};
      alter table audit.resource_snapshots alter column state set compression ${method};
    exception when feature_not_supported then
      raise notice 'compression method ${method} is not supported by this server; projections keep the default';
    end $$`);
};
