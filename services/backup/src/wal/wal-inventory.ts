import type { Pool } from 'pg';
import { migrateUnderLock } from '@continuity/runtime/standalone';
import type { WalCopy, WalSegment } from '@continuity/contracts';
import type { ShippedVersion } from './partial-versions.policy.js';

/**
 * What the WAL archive holds, per resource, in the backup catalogue's database (schema `backup`):
 * one row per object shipped, keyed by the name it is stored under: a finished segment or history
 * file by its own name, each shipment (version) of a partial segment by its version name
 * (`<segment>.partial.<bytes>`; an archive from before versions holds a partial row under the
 * segment's name, overwritten when it is shipped finished), with the copies holding it. It is what gap detection compares the server with after
 * a restart (the archived end per timeline), and what WAL retention deletes from. The events
 * (`WalArchived`, `WalExpired`) remain the record; this is the service's working index of them.
 * A row is written after every copy of the file is committed and before the file leaves the
 * spool, so a crash in between only re-ships the file (the upsert makes that idempotent).
 */
export const WAL_INVENTORY_SQL = `
CREATE SCHEMA IF NOT EXISTS backup;
CREATE TABLE IF NOT EXISTS backup.wal_files (
  resource    text NOT NULL,
  name        text NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('segment', 'history')),
  timeline    int NOT NULL,
  start_lsn   pg_lsn NOT NULL,
  end_lsn     pg_lsn NOT NULL,
  partial     boolean NOT NULL,
  encrypted   boolean NOT NULL,
  copies      jsonb NOT NULL,
  archived_at timestamptz NOT NULL,
  expired_at  timestamptz,
  PRIMARY KEY (resource, name)
);
`;

export interface ArchivedFile {
  name: string;
  kind: 'segment' | 'history';
  timeline: number;
  startLsn: string;
  endLsn: string;
  partial: boolean;
  encrypted: boolean;
  copies: WalCopy[];
}

export class WalInventory {
  constructor(private readonly pool: Pool) {}

  async migrate(): Promise<void> {
    await migrateUnderLock(this.pool, 'continuity.backup.wal-inventory', WAL_INVENTORY_SQL);
  }

  /** Records shipped files; a finished segment replaces its partial row, never the other way round. */
  async recordShipped(resource: string, segments: readonly WalSegment[], encrypted: boolean, at: string): Promise<void> {
    for (const s of segments) {
      // A partial segment's shipment is a row of its own, under the name it is stored under.
      await this.pool.query(
        `INSERT INTO backup.wal_files (resource, name, kind, timeline, start_lsn, end_lsn, partial, encrypted, copies, archived_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (resource, name) DO UPDATE SET end_lsn = EXCLUDED.end_lsn, partial = EXCLUDED.partial, encrypted = EXCLUDED.encrypted,
           copies = EXCLUDED.copies, archived_at = EXCLUDED.archived_at, expired_at = NULL
          WHERE backup.wal_files.partial OR NOT EXCLUDED.partial`,
        [resource, s.object ?? s.name, s.kind, s.timeline, s.startLsn, s.endLsn, s.partial, encrypted, JSON.stringify(s.copies), at],
      );
    }
  }

  /** Whether `name` (a stored object's name) is archived and not expired. */
  async holds(resource: string, name: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM backup.wal_files WHERE resource = $1 AND name = $2 AND expired_at IS NULL', [resource, name]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * The live versions of every segment that has a partial version, with the finished segment when
   * it is archived: what pruning superseded versions decides from.
   */
  async partialVersions(resource: string): Promise<ShippedVersion[]> {
    const { rows } = await this.pool.query(
      `SELECT f.name, f.partial, f.end_lsn::text AS end_lsn, f.archived_at, f.encrypted, f.copies
         FROM backup.wal_files f
        WHERE f.resource = $1 AND f.kind = 'segment' AND f.expired_at IS NULL
          AND EXISTS (SELECT 1 FROM backup.wal_files p
                       WHERE p.resource = f.resource AND p.partial AND p.expired_at IS NULL AND p.kind = 'segment' AND left(p.name, 24) = left(f.name, 24))
        ORDER BY f.name`,
      [resource],
    );
    return rows.map((r) => ({ name: r.name, partial: r.partial, endLsn: r.end_lsn, archivedAt: (r.archived_at as Date).toISOString(), encrypted: r.encrypted, copies: r.copies }));
  }

  /** The archived end of each timeline (segments only), newest timeline first. */
  async tips(resource: string): Promise<{ timeline: number; endLsn: string }[]> {
    const { rows } = await this.pool.query<{ timeline: number; end_lsn: string }>(
      `SELECT timeline, max(end_lsn)::text AS end_lsn FROM backup.wal_files WHERE resource = $1 AND kind = 'segment' GROUP BY timeline ORDER BY timeline DESC`,
      [resource],
    );
    return rows.map((r) => ({ timeline: r.timeline, endLsn: r.end_lsn }));
  }

  /** Every file still in the copies (not expired). */
  async live(resource: string): Promise<ArchivedFile[]> {
    const { rows } = await this.pool.query(
      `SELECT name, kind, timeline, start_lsn::text AS start_lsn, end_lsn::text AS end_lsn, partial, encrypted, copies
         FROM backup.wal_files WHERE resource = $1 AND expired_at IS NULL ORDER BY name`,
      [resource],
    );
    return rows.map((r) => ({ name: r.name, kind: r.kind, timeline: r.timeline, startLsn: r.start_lsn, endLsn: r.end_lsn, partial: r.partial, encrypted: r.encrypted, copies: r.copies }));
  }

  async markExpired(resource: string, names: readonly string[], at: string): Promise<void> {
    if (!names.length) return;
    await this.pool.query('UPDATE backup.wal_files SET expired_at = $3 WHERE resource = $1 AND name = ANY($2) AND expired_at IS NULL', [resource, names, at]);
  }
}
