import type { Pool, PoolClient } from 'pg';
import { inTransaction, migrateUnderLock } from '@continuity/runtime/standalone';
import type { Envelope } from '@continuity/contracts';
import { BackupAlreadyRunningError } from '../backup-run/backup-run.errors.js';
import type { RecordedFailure, RunCatalogue } from '../backup-run/run-catalogue.port.js';
import { BackupNotFoundError } from './catalogue.errors.js';
import type { CommittedCopy, RunPlan } from '../backup-run/backup-run.decider.js';
import type { Digest } from '@continuity/artifacts';

/**
 * The backup service's own catalogue, in PostgreSQL (schema `backup` of DATABASE_URL's database).
 *
 * Why a table and not only the manifests on the copies: the API needs state and progress of runs
 * in flight, "one run per resource" must hold across processes (the service, the CLI, replicas) —
 * a partial unique index does that atomically — and events must leave through an outbox written
 * in the same transaction as the state change, so a crash never loses a BackupCreated nor
 * publishes one for a backup the catalogue does not have. The manifests stay the source of truth
 * for each copy: a restore can work from a copy alone.
 */
export const CATALOGUE_SCHEMA_SQL = `
CREATE SCHEMA IF NOT EXISTS backup;
CREATE TABLE IF NOT EXISTS backup.backups (
  backup_id        uuid PRIMARY KEY,
  resource         text NOT NULL,
  policy           text NOT NULL,
  resource_kind    text NOT NULL,
  method           text NOT NULL,
  trigger          text NOT NULL,
  state            text NOT NULL CHECK (state IN ('running', 'created', 'failed', 'expired')),
  owner            text NOT NULL,
  started_at       timestamptz NOT NULL,
  heartbeat_at     timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  recovery_point   timestamptz NOT NULL,
  bytes_done       bigint NOT NULL DEFAULT 0,
  bytes_expected   bigint,
  size_bytes       bigint,
  sha256           text,
  plaintext_sha256 text,
  plaintext_bytes  bigint,
  encryption       jsonb,
  three_two_one    jsonb NOT NULL,
  planned_copies   jsonb NOT NULL,
  copies           jsonb NOT NULL DEFAULT '[]',
  artifact_extension text NOT NULL,
  error            jsonb,
  expired_at       timestamptz,
  expiry           jsonb
);
CREATE UNIQUE INDEX IF NOT EXISTS backups_one_running_per_resource ON backup.backups (resource) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS backups_by_resource ON backup.backups (resource, recovery_point DESC);
CREATE TABLE IF NOT EXISTS backup.verdicts (
  backup_id   uuid PRIMARY KEY,
  resource    text NOT NULL,
  verdict     text NOT NULL,
  trigger     text NOT NULL,
  event_id    uuid NOT NULL,
  occurred_at timestamptz NOT NULL
);
-- One row per scheduled run of a policy, whichever instance won it (see scheduler/schedule-claims.ts).
CREATE TABLE IF NOT EXISTS backup.schedule_claims (
  policy     text NOT NULL,
  slot       timestamptz NOT NULL,
  claimed_by text NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  backup_id  uuid,
  skipped    text,
  PRIMARY KEY (policy, slot)
);
CREATE TABLE IF NOT EXISTS backup.outbox (
  event_id   uuid PRIMARY KEY,
  envelope   jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
`;

export type BackupState = 'running' | 'created' | 'failed' | 'expired';

export interface BackupRecord {
  backupId: string;
  resource: string;
  policy: string;
  resourceKind: string;
  method: string;
  trigger: string;
  state: BackupState;
  startedAt: string;
  finishedAt: string | null;
  recoveryPoint: string;
  bytesDone: number;
  bytesExpected: number | null;
  sizeBytes: number | null;
  sha256: string | null;
  plaintext: Digest | null;
  encryption: RunPlan['encryption'];
  threeTwoOne: RunPlan['threeTwoOne'];
  plannedCopies: RunPlan['copies'];
  copies: CommittedCopy[];
  artifactExtension: string;
  error: RecordedFailure | null;
  verdict: { verdict: string; trigger: string; occurredAt: string } | null;
  expiredAt: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const num = (v: string | null) => (v === null ? null : Number(v));

const SELECT = `
SELECT b.*, v.verdict, v.trigger AS verdict_trigger, v.occurred_at AS verdict_at
  FROM backup.backups b LEFT JOIN backup.verdicts v ON v.backup_id = b.backup_id`;

const toRecord = (r: Record<string, any>): BackupRecord => ({
  backupId: r.backup_id,
  resource: r.resource,
  policy: r.policy,
  resourceKind: r.resource_kind,
  method: r.method,
  trigger: r.trigger,
  state: r.state,
  startedAt: iso(r.started_at)!,
  finishedAt: iso(r.finished_at),
  recoveryPoint: iso(r.recovery_point)!,
  bytesDone: Number(r.bytes_done),
  bytesExpected: num(r.bytes_expected),
  sizeBytes: num(r.size_bytes),
  sha256: r.sha256,
  plaintext: r.plaintext_sha256 ? { sha256: r.plaintext_sha256, sizeBytes: Number(r.plaintext_bytes) } : null,
  encryption: r.encryption,
  threeTwoOne: r.three_two_one,
  plannedCopies: r.planned_copies,
  copies: r.copies,
  artifactExtension: r.artifact_extension,
  error: r.error,
  verdict: r.verdict ? { verdict: r.verdict, trigger: r.verdict_trigger, occurredAt: iso(r.verdict_at)! } : null,
  expiredAt: iso(r.expired_at),
});

export class Catalogue implements RunCatalogue {
  constructor(private readonly pool: Pool) {}

  /** Creates the schema if needed; safe to run from several processes at once. */
  async migrate(): Promise<void> {
    await migrateUnderLock(this.pool, 'continuity.backup.catalogue', CATALOGUE_SCHEMA_SQL);
  }

  /** Records a run as started; refuses a second running backup of the same resource. */
  async start(plan: RunPlan, details: { trigger: string; owner: string; bytesExpected: number | null; extension: string }): Promise<void> {
    try {
      await this.pool.query(
        `INSERT INTO backup.backups (backup_id, resource, policy, resource_kind, method, trigger, state, owner, started_at, recovery_point,
           bytes_expected, encryption, three_two_one, planned_copies, artifact_extension)
         VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, $9, $10, $11, $12, $13, $14)`,
        [
          plan.backupId,
          plan.resource,
          plan.policy,
          plan.resourceKind,
          plan.method,
          details.trigger,
          details.owner,
          plan.startedAt,
          plan.recoveryPoint,
          details.bytesExpected,
          JSON.stringify(plan.encryption),
          JSON.stringify(plan.threeTwoOne),
          JSON.stringify(plan.copies),
          details.extension,
        ],
      );
    } catch (error) {
      if ((error as { code?: string }).code === '23505' && (error as { constraint?: string }).constraint === 'backups_one_running_per_resource') {
        const running = await this.pool.query(`SELECT backup_id FROM backup.backups WHERE resource = $1 AND state = 'running'`, [plan.resource]);
        throw new BackupAlreadyRunningError(plan.resource, running.rows[0]?.backup_id ?? null);
      }
      throw error;
    }
  }

  async progress(backupId: string, bytesDone: number, bytesExpected?: number | null): Promise<void> {
    await this.pool.query(
      `UPDATE backup.backups SET bytes_done = GREATEST(bytes_done, $2), bytes_expected = COALESCE($3, bytes_expected), heartbeat_at = now()
        WHERE backup_id = $1 AND state = 'running'`,
      [backupId, bytesDone, bytesExpected ?? null],
    );
  }

  /** Marks the run created and queues its BackupCreated in the same transaction. */
  async created(backupId: string, fields: { finishedAt: string; stored: Digest; plaintext: Digest; copies: CommittedCopy[]; bytesDone: number }, event: Envelope) {
    await this.transaction(async (tx) => {
      const { rowCount } = await tx.query(
        `UPDATE backup.backups SET state = 'created', finished_at = $2, size_bytes = $3, sha256 = $4, plaintext_sha256 = $5, plaintext_bytes = $6,
            copies = $7, bytes_done = $8, heartbeat_at = now()
          WHERE backup_id = $1 AND state = 'running'`,
        [backupId, fields.finishedAt, fields.stored.sizeBytes, fields.stored.sha256, fields.plaintext.sha256, fields.plaintext.sizeBytes, JSON.stringify(fields.copies), fields.bytesDone],
      );
      if (rowCount !== 1) throw new Error(`backup ${backupId} is no longer running in the catalogue: not marking it created`);
      await this.enqueue(tx, event);
    });
  }

  /** Marks the run failed and queues its BackupFailed in the same transaction. */
  async failed(backupId: string, fields: { finishedAt: string; error: RecordedFailure; bytesDone: number }, event: Envelope) {
    await this.transaction(async (tx) => {
      const { rowCount } = await tx.query(
        `UPDATE backup.backups SET state = 'failed', finished_at = $2, error = $3, bytes_done = GREATEST(bytes_done, $4) WHERE backup_id = $1 AND state = 'running'`,
        [backupId, fields.finishedAt, JSON.stringify(fields.error), fields.bytesDone],
      );
      // Already recorded (e.g. as abandoned by another process): one BackupFailed per backup.
      if (rowCount === 1) await this.enqueue(tx, event);
    });
  }

  async expired(backupId: string, fields: { at: string; expiry: unknown }, event: Envelope) {
    await this.transaction(async (tx) => {
      const { rowCount } = await tx.query(`UPDATE backup.backups SET state = 'expired', expired_at = $2, expiry = $3 WHERE backup_id = $1 AND state = 'created'`, [
        backupId,
        fields.at,
        JSON.stringify(fields.expiry),
      ]);
      if (rowCount === 1) await this.enqueue(tx, event);
    });
  }

  /**
   * Queues an event that changes nothing else in the catalogue (RestorePerformed): the outbox still
   * carries it across a NATS outage, published by the next flush.
   */
  async queue(event: Envelope) {
    await this.transaction((tx) => this.enqueue(tx, event));
  }

  /** Records a verification verdict; an older verdict never overwrites a newer one (redelivery, reordering). */
  async recordVerdict(v: { backupId: string; resource: string; verdict: string; trigger: string; eventId: string; occurredAt: string }) {
    await this.pool.query(
      `INSERT INTO backup.verdicts (backup_id, resource, verdict, trigger, event_id, occurred_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (backup_id) DO UPDATE SET verdict = EXCLUDED.verdict, trigger = EXCLUDED.trigger, event_id = EXCLUDED.event_id, occurred_at = EXCLUDED.occurred_at
        WHERE backup.verdicts.occurred_at < EXCLUDED.occurred_at`,
      [v.backupId, v.resource, v.verdict, v.trigger, v.eventId, v.occurredAt],
    );
  }

  async get(backupId: string): Promise<BackupRecord | null> {
    const { rows } = await this.pool.query(`${SELECT} WHERE b.backup_id = $1`, [backupId]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /** The backup, or `BackupNotFoundError`; an id that is not a UUID names no backup (and is not sent to PostgreSQL). */
  async getOrNotFound(backupId: string): Promise<BackupRecord> {
    const record = UUID.test(backupId) ? await this.get(backupId) : null;
    if (!record) throw new BackupNotFoundError(backupId);
    return record;
  }

  async list(filter: { resource?: string; states?: BackupState[]; limit?: number } = {}): Promise<BackupRecord[]> {
    const { rows } = await this.pool.query(
      `${SELECT} WHERE ($1::text IS NULL OR b.resource = $1) AND ($2::text[] IS NULL OR b.state = ANY($2))
        ORDER BY b.recovery_point DESC, b.started_at DESC LIMIT $3`,
      [filter.resource ?? null, filter.states ?? null, filter.limit ?? 1000],
    );
    return rows.map(toRecord);
  }

  /** Runs whose process stopped sending progress (it crashed): their resource must not stay blocked. */
  async stale(olderThanMs: number): Promise<BackupRecord[]> {
    const { rows } = await this.pool.query(`${SELECT} WHERE b.state = 'running' AND b.heartbeat_at < now() - ($1::text || ' milliseconds')::interval`, [
      String(olderThanMs),
    ]);
    return rows.map(toRecord);
  }

  // ---- outbox -------------------------------------------------------------------------------

  private async enqueue(tx: PoolClient, event: Envelope) {
    await tx.query('INSERT INTO backup.outbox (event_id, envelope) VALUES ($1, $2) ON CONFLICT DO NOTHING', [event.id, JSON.stringify(event)]);
  }

  /**
   * Publishes queued events oldest first and removes each once JetStream stored it. Rows are
   * locked (SKIP LOCKED) so two processes never publish the same event at once; a crash between
   * publish and delete republishes with the same id, which JetStream's dedupe window drops.
   */
  async flushOutbox(publish: (event: Envelope) => Promise<unknown>): Promise<number> {
    let published = 0;
    for (;;) {
      const sent = await this.transaction(async (tx) => {
        const { rows } = await tx.query('SELECT event_id, envelope FROM backup.outbox ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED');
        if (!rows[0]) return false;
        await publish(rows[0].envelope as Envelope);
        await tx.query('DELETE FROM backup.outbox WHERE event_id = $1', [rows[0].event_id]);
        return true;
      });
      if (!sent) return published;
      published++;
    }
  }

  private transaction<T>(work: (tx: PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, work);
  }

}
