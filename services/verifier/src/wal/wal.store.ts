import type { Pool, PoolClient } from 'pg';
import { inTransaction } from '@continuity/runtime';
import type { ContinuityEvent, Envelope, WalCopy } from '@continuity/contracts';
import { ChainFile, ChainGap, ChainState, gapKey, walChain } from './wal-chain.js';

/**
 * The verifier's record of every resource's WAL archive (schema `verifier`, created idempotently at
 * start like the verification tables). `wal_files`: one row per archived file and resource, the
 * newest shipment of it (a finished segment supersedes its partial shipments, never the reverse),
 * with its copies and when they were last re-read. `wal_checks`: one row per check — per
 * WalArchived (unique event id: a redelivery finds it done) or scrub — holding the exact events it
 * publishes (an outbox). `wal_gaps`: each hole in a chain once it is seen, so it is reported once
 * and closed when the missing WAL arrives. `restore_points`: the RestorePointCreated received.
 */
export const WAL_SCHEMA_SQL = `
CREATE SCHEMA IF NOT EXISTS verifier;
CREATE TABLE IF NOT EXISTS verifier.wal_files (
  resource             text NOT NULL,
  name                 text NOT NULL,
  kind                 text NOT NULL CHECK (kind IN ('segment', 'history')),
  timeline             int NOT NULL,
  start_lsn            pg_lsn NOT NULL,
  end_lsn              pg_lsn NOT NULL,
  partial              boolean NOT NULL,
  sha256               text NOT NULL,
  size_bytes           bigint NOT NULL,
  plaintext_sha256     text NOT NULL,
  plaintext_size_bytes bigint NOT NULL,
  copies               jsonb NOT NULL,
  encryption           jsonb,
  event_id             uuid NOT NULL,
  received_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_checked_at      timestamptz,
  last_ok              boolean,
  PRIMARY KEY (resource, name)
);
CREATE INDEX IF NOT EXISTS wal_files_scrub_order ON verifier.wal_files (last_checked_at NULLS FIRST);
CREATE TABLE IF NOT EXISTS verifier.wal_checks (
  check_id     uuid PRIMARY KEY,
  event_id     uuid UNIQUE,
  resource     text NOT NULL,
  trigger      text NOT NULL CHECK (trigger IN ('new', 'scrub')),
  verdict      text NOT NULL,
  result       jsonb NOT NULL,
  envelopes    jsonb NOT NULL,
  checked_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  published_at timestamptz
);
CREATE INDEX IF NOT EXISTS wal_checks_unpublished ON verifier.wal_checks (checked_at) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS verifier.wal_gaps (
  resource   text NOT NULL,
  gap        text NOT NULL,
  timeline   int NOT NULL,
  from_lsn   pg_lsn NOT NULL,
  to_lsn     pg_lsn NOT NULL,
  detail     text NOT NULL,
  found_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  closed_at  timestamptz,
  PRIMARY KEY (resource, gap)
);
CREATE TABLE IF NOT EXISTS verifier.restore_points (
  resource   text NOT NULL,
  name       text NOT NULL,
  lsn        pg_lsn NOT NULL,
  timeline   int NOT NULL,
  created_at timestamptz NOT NULL,
  event_id   uuid NOT NULL,
  PRIMARY KEY (resource, name, lsn)
);
`;

export interface WalFileRow extends ChainFile {
  resource: string;
  sha256: string;
  sizeBytes: number;
  plaintextSha256: string;
  plaintextSizeBytes: number;
  copies: WalCopy[];
  encryption: { format: 'age'; recipients: string[] } | null;
  lastCheckedAt: string | null;
  lastOk: boolean | null;
  receivedAt: string;
}

export interface WalCheckRow {
  checkId: string;
  eventId: string | null;
  resource: string;
  verdict: string;
  envelopes: Envelope[];
  publishedAt: string | null;
}

export interface RestorePointRow {
  name: string;
  lsn: string;
  timeline: number;
  createdAt: string;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

const toFile = (r: Record<string, any>): WalFileRow => ({
  resource: r.resource,
  name: r.name,
  kind: r.kind,
  timeline: r.timeline,
  startLsn: r.start_lsn,
  endLsn: r.end_lsn,
  partial: r.partial,
  sha256: r.sha256,
  sizeBytes: Number(r.size_bytes),
  plaintextSha256: r.plaintext_sha256,
  plaintextSizeBytes: Number(r.plaintext_size_bytes),
  copies: r.copies,
  encryption: r.encryption,
  lastCheckedAt: iso(r.last_checked_at),
  lastOk: r.last_ok,
  receivedAt: iso(r.received_at)!,
});

const toCheck = (r: Record<string, any>): WalCheckRow => ({
  checkId: r.check_id,
  eventId: r.event_id,
  resource: r.resource,
  verdict: r.verdict,
  envelopes: r.envelopes,
  publishedAt: iso(r.published_at),
});

/** Serializes every write to one resource's WAL record (released at commit). */
const lockResource = (client: PoolClient, resource: string) => client.query("SELECT pg_advisory_xact_lock(hashtextextended('wal:' || $1, 2))", [resource]);

/** What a check found, handed to `commitCheck`, which adds the chain and builds the events. */
export interface CheckInput {
  checkId: string;
  eventId: string | null;
  resource: string;
  trigger: 'new' | 'scrub';
  /** Per file checked: whether every readable copy matched. */
  checked: { name: string; ok: boolean }[];
  /** Builds the check's events from the chain after this check and the gaps first seen now. */
  build: (chain: ChainState, newGaps: ChainGap[]) => { verdict: string; result: unknown; envelopes: Envelope[] };
}

export class WalStore {
  constructor(private readonly pool: Pool) {}

  async migrate() {
    await inTransaction(this.pool, async (client) => {
      await client.query("SELECT pg_advisory_xact_lock(hashtextextended('continuity verifier schema', 0))");
      await client.query(WAL_SCHEMA_SQL);
    });
  }

  /**
   * Records a shipment's files (idempotent): a file not known is added; a known partial one is
   * replaced by its finished segment or a longer partial shipment; a finished one is never replaced
   * (a late redelivery of an older partial shipment changes nothing).
   */
  async recordArchived(event: ContinuityEvent<'WalArchived'>) {
    await inTransaction(this.pool, async (client) => {
      await lockResource(client, event.resource);
      for (const s of event.data.segments) {
        await client.query(
          `INSERT INTO verifier.wal_files (resource, name, kind, timeline, start_lsn, end_lsn, partial, sha256, size_bytes, plaintext_sha256, plaintext_size_bytes, copies, encryption, event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (resource, name) DO UPDATE SET kind = EXCLUDED.kind, timeline = EXCLUDED.timeline, start_lsn = EXCLUDED.start_lsn, end_lsn = EXCLUDED.end_lsn,
             partial = EXCLUDED.partial, sha256 = EXCLUDED.sha256, size_bytes = EXCLUDED.size_bytes, plaintext_sha256 = EXCLUDED.plaintext_sha256,
             plaintext_size_bytes = EXCLUDED.plaintext_size_bytes, copies = EXCLUDED.copies, encryption = EXCLUDED.encryption, event_id = EXCLUDED.event_id,
             received_at = clock_timestamp(), last_checked_at = NULL, last_ok = NULL
           WHERE verifier.wal_files.partial AND (NOT EXCLUDED.partial OR EXCLUDED.end_lsn > verifier.wal_files.end_lsn)`,
          [event.resource, s.name, s.kind, s.timeline, s.startLsn, s.endLsn, s.partial, s.sha256, s.sizeBytes, s.plaintextSha256, s.plaintextSizeBytes, JSON.stringify(s.copies), JSON.stringify(event.data.encryption), event.id],
        );
      }
    });
  }

  async file(resource: string, name: string): Promise<WalFileRow | null> {
    const { rows } = await this.pool.query('SELECT * FROM verifier.wal_files WHERE resource = $1 AND name = $2', [resource, name]);
    return rows[0] ? toFile(rows[0]) : null;
  }

  /** Every archived file of `resource`, in position order (history files first on their timeline). */
  async files(resource: string): Promise<WalFileRow[]> {
    const { rows } = await this.pool.query(`SELECT * FROM verifier.wal_files WHERE resource = $1 ORDER BY timeline, kind = 'segment', start_lsn`, [resource]);
    return rows.map(toFile);
  }

  /** Every finished archived file (partial shipments are never re-read: see the service), oldest-checked first (scrubbing, coverage). */
  async allFiles(): Promise<WalFileRow[]> {
    const { rows } = await this.pool.query('SELECT * FROM verifier.wal_files WHERE NOT partial ORDER BY last_checked_at NULLS FIRST, received_at');
    return rows.map(toFile);
  }

  async checkOf(eventId: string): Promise<WalCheckRow | null> {
    const { rows } = await this.pool.query('SELECT * FROM verifier.wal_checks WHERE event_id = $1', [eventId]);
    return rows[0] ? toCheck(rows[0]) : null;
  }

  /**
   * Commits a check and its events in one transaction under the resource's lock: the chain is
   * computed from what is recorded now, gaps not seen before are recorded (and handed to `build`
   * as new), gaps no longer there are closed. A check of an event already checked (a concurrent
   * redelivery) keeps the first one's events.
   */
  async commitCheck(input: CheckInput): Promise<WalCheckRow> {
    return inTransaction(this.pool, async (client) => {
      await lockResource(client, input.resource);
      if (input.eventId) {
        const { rows } = await client.query('SELECT * FROM verifier.wal_checks WHERE event_id = $1', [input.eventId]);
        if (rows[0]) return toCheck(rows[0]);
      }
      const { rows: fileRows } = await client.query('SELECT * FROM verifier.wal_files WHERE resource = $1', [input.resource]);
      const chain = walChain(fileRows.map(toFile));
      const { rows: openRows } = await client.query('SELECT gap FROM verifier.wal_gaps WHERE resource = $1 AND closed_at IS NULL', [input.resource]);
      const open = new Set(openRows.map((r) => r.gap as string));
      const now = new Set(chain.gaps.map(gapKey));
      const newGaps = chain.gaps.filter((g) => !open.has(gapKey(g)));
      for (const gap of newGaps) {
        await client.query(
          `INSERT INTO verifier.wal_gaps (resource, gap, timeline, from_lsn, to_lsn, detail) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (resource, gap) DO UPDATE SET closed_at = NULL, found_at = clock_timestamp(), detail = EXCLUDED.detail`,
          [input.resource, gapKey(gap), gap.timeline, gap.fromLsn, gap.toLsn, gap.detail],
        );
      }
      for (const gap of open) if (!now.has(gap)) await client.query('UPDATE verifier.wal_gaps SET closed_at = clock_timestamp() WHERE resource = $1 AND gap = $2', [input.resource, gap]);
      for (const c of input.checked) {
        await client.query('UPDATE verifier.wal_files SET last_checked_at = clock_timestamp(), last_ok = $3 WHERE resource = $1 AND name = $2', [input.resource, c.name, c.ok]);
      }
      const built = input.build(chain, newGaps);
      const { rows } = await client.query(
        `INSERT INTO verifier.wal_checks (check_id, event_id, resource, trigger, verdict, result, envelopes) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [input.checkId, input.eventId, input.resource, input.trigger, built.verdict, JSON.stringify(built.result), JSON.stringify(built.envelopes)],
      );
      return toCheck(rows[0]);
    });
  }

  async markPublished(checkId: string) {
    await this.pool.query('UPDATE verifier.wal_checks SET published_at = clock_timestamp() WHERE check_id = $1 AND published_at IS NULL', [checkId]);
  }

  async unpublished(limit = 100): Promise<WalCheckRow[]> {
    const { rows } = await this.pool.query('SELECT * FROM verifier.wal_checks WHERE published_at IS NULL ORDER BY checked_at LIMIT $1', [limit]);
    return rows.map(toCheck);
  }

  async openGaps(resource: string): Promise<ChainGap[]> {
    const { rows } = await this.pool.query('SELECT * FROM verifier.wal_gaps WHERE resource = $1 AND closed_at IS NULL ORDER BY timeline, from_lsn', [resource]);
    return rows.map((r) => ({ timeline: r.timeline, fromLsn: r.from_lsn, toLsn: r.to_lsn, detail: r.detail }));
  }

  async recordRestorePoint(event: ContinuityEvent<'RestorePointCreated'>) {
    await this.pool.query(
      `INSERT INTO verifier.restore_points (resource, name, lsn, timeline, created_at, event_id) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
      [event.resource, event.data.name, event.data.lsn, event.data.timeline, event.data.createdAt, event.id],
    );
  }

  /** Restore points of `resource` after `afterLsn` and not past `upToLsn`, newest first. */
  async restorePoints(resource: string, afterLsn: string, upToLsn: string): Promise<RestorePointRow[]> {
    const { rows } = await this.pool.query(
      'SELECT * FROM verifier.restore_points WHERE resource = $1 AND lsn > $2 AND lsn <= $3 ORDER BY lsn DESC, created_at DESC',
      [resource, afterLsn, upToLsn],
    );
    return rows.map((r) => ({ name: r.name, lsn: r.lsn, timeline: r.timeline, createdAt: iso(r.created_at)! }));
  }
}
