import type { Pool, PoolClient } from 'pg';
import { inTransaction } from '@continuity/runtime';
import type { BackupCreatedV2, ContinuityEvent, Envelope, IntegrityVerifiedV1 } from '@continuity/contracts';
import { decide, KnownVerification, Trigger, VerificationCommand, VerificationStatus } from './verification.decider.js';

/**
 * The verifier's own tables (schema `verifier` of DATABASE_URL's database), created idempotently
 * at start. `backups` is what the verifier knows of every backup (the BackupCreated it got, when it
 * expired, when it was last verified): scrubbing and coverage read it. `verifications` holds one
 * row per verification — the claim while it runs, then the verdict and the exact IntegrityVerified
 * envelope (an outbox: published after the commit, re-published with the same id if the process
 * died in between). A BackupCreated claims `(backup, 'new')` — unique — so a redelivery never
 * makes a second verdict. `scratch` records scratch databases and folders (see Scratch).
 */
export const VERIFIER_SCHEMA_SQL = `
CREATE SCHEMA IF NOT EXISTS verifier;
CREATE TABLE IF NOT EXISTS verifier.backups (
  backup_id            uuid PRIMARY KEY,
  resource             text NOT NULL,
  event_id             uuid,
  correlation_id       uuid,
  data                 jsonb,
  occurred_at          timestamptz,
  recovery_point       timestamptz,
  received_at          timestamptz NOT NULL DEFAULT now(),
  expired_at           timestamptz,
  last_verified_at     timestamptz,
  last_verdict         text,
  last_trigger         text,
  last_verification_id uuid
);
CREATE INDEX IF NOT EXISTS backups_scrub_order ON verifier.backups (last_verified_at NULLS FIRST) WHERE expired_at IS NULL AND data IS NOT NULL;
CREATE TABLE IF NOT EXISTS verifier.verifications (
  verification_id uuid PRIMARY KEY,
  backup_id       uuid NOT NULL,
  resource        text NOT NULL,
  trigger         text NOT NULL CHECK (trigger IN ('new', 'scrub', 'manual')),
  request_key     text NOT NULL,
  status          text NOT NULL CHECK (status IN ('running', 'done', 'abandoned')),
  owner           text NOT NULL,
  attempts        int NOT NULL DEFAULT 1,
  requested_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at     timestamptz,
  verdict         text,
  result          jsonb,
  envelope        jsonb,
  published_at    timestamptz,
  UNIQUE (backup_id, request_key)
);
CREATE INDEX IF NOT EXISTS verifications_by_backup ON verifier.verifications (backup_id, requested_at DESC);
CREATE INDEX IF NOT EXISTS verifications_by_time ON verifier.verifications (requested_at DESC);
CREATE INDEX IF NOT EXISTS verifications_unpublished ON verifier.verifications (finished_at) WHERE status = 'done' AND published_at IS NULL;
CREATE INDEX IF NOT EXISTS verifications_running ON verifier.verifications (owner) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS verifier.scratch (
  name       text PRIMARY KEY,
  kind       text NOT NULL CHECK (kind IN ('database', 'directory')),
  location   text NOT NULL,
  owner      text NOT NULL,
  backup_id  uuid,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
`;

export type { Trigger } from './verification.decider.js';
export type Verdict = IntegrityVerifiedV1['verdict'];

export interface BackupRow {
  backupId: string;
  resource: string;
  eventId: string;
  correlationId: string;
  data: BackupCreatedV2;
  recoveryPoint: string;
  receivedAt: string;
  expiredAt: string | null;
  lastVerifiedAt: string | null;
  lastVerdict: Verdict | null;
  lastTrigger: Trigger | null;
  lastVerificationId: string | null;
}

export interface VerificationRow {
  verificationId: string;
  backupId: string;
  resource: string;
  trigger: Trigger;
  status: VerificationStatus;
  owner: string;
  attempts: number;
  requestedAt: string;
  startedAt: string;
  finishedAt: string | null;
  verdict: Verdict | null;
  result: IntegrityVerifiedV1 | null;
  envelope: Envelope | null;
  publishedAt: string | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

const toBackup = (r: Record<string, any>): BackupRow => ({
  backupId: r.backup_id,
  resource: r.resource,
  eventId: r.event_id,
  correlationId: r.correlation_id,
  data: r.data,
  recoveryPoint: iso(r.recovery_point)!,
  receivedAt: iso(r.received_at)!,
  expiredAt: iso(r.expired_at),
  lastVerifiedAt: iso(r.last_verified_at),
  lastVerdict: r.last_verdict,
  lastTrigger: r.last_trigger,
  lastVerificationId: r.last_verification_id,
});

const toVerification = (r: Record<string, any>): VerificationRow => ({
  verificationId: r.verification_id,
  backupId: r.backup_id,
  resource: r.resource,
  trigger: r.trigger,
  status: r.status,
  owner: r.owner,
  attempts: r.attempts,
  requestedAt: iso(r.requested_at)!,
  startedAt: iso(r.started_at)!,
  finishedAt: iso(r.finished_at),
  verdict: r.verdict,
  result: r.result,
  envelope: r.envelope,
  publishedAt: iso(r.published_at),
});

/** Whether a verification's owner still works on it, asked on the transaction's own connection. */
export type IsAlive = (owner: string, verificationId: string, client: PoolClient) => Promise<boolean>;

/** Serializes every claim and start on one backup (released at commit). */
const lockBackup = (client: PoolClient, backupId: string) => client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 1))', [backupId]);

/** A row as the decider sees it; liveness is asked only of running ones. */
const known = async (row: VerificationRow, isAlive: IsAlive, client: PoolClient): Promise<KnownVerification> => ({
  ...row,
  ownerAlive: row.status === 'running' && (await isAlive(row.owner, row.verificationId, client)),
});

export type Claim =
  | { kind: 'claimed'; verification: VerificationRow }
  | { kind: 'done'; verification: VerificationRow }
  | { kind: 'busy'; verification: VerificationRow };

export interface VerificationQuery {
  backupId?: string;
  resource?: string;
  verdict?: Verdict;
  trigger?: Trigger;
  status?: VerificationRow['status'];
  limit: number;
}

/** All the verifier's SQL. Owners' liveness is decided by the caller (`isAlive`, asked on the transaction's own connection). */
export class VerificationStore {
  constructor(private readonly pool: Pool) {}

  /** Creates the schema; safe to run from several processes at once. */
  async migrate() {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT pg_advisory_xact_lock(hashtextextended('continuity verifier schema', 0))");
      await client.query(VERIFIER_SCHEMA_SQL);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  private tx<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, work);
  }


  /** Remembers a backup (idempotent: a redelivery changes nothing; an expiry seen first is kept). */
  async recordBackup(event: ContinuityEvent<'BackupCreated'>) {
    await this.pool.query(
      `INSERT INTO verifier.backups (backup_id, resource, event_id, correlation_id, data, occurred_at, recovery_point)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (backup_id) DO UPDATE SET resource = EXCLUDED.resource, event_id = EXCLUDED.event_id, correlation_id = EXCLUDED.correlation_id,
         data = EXCLUDED.data, occurred_at = EXCLUDED.occurred_at, recovery_point = EXCLUDED.recovery_point
       WHERE verifier.backups.data IS NULL`,
      [event.data.backupId, event.resource, event.id, event.correlationId, JSON.stringify(event.data), event.occurredAt, event.data.recoveryPoint],
    );
  }

  /** A backup's copies were deleted on purpose: no more scrubbing, not counted as retained. */
  async recordExpired(backupId: string, resource: string, at: string) {
    await this.pool.query(
      `INSERT INTO verifier.backups (backup_id, resource, expired_at) VALUES ($1, $2, $3)
       ON CONFLICT (backup_id) DO UPDATE SET expired_at = LEAST(coalesce(verifier.backups.expired_at, EXCLUDED.expired_at), EXCLUDED.expired_at)`,
      [backupId, resource, at],
    );
  }

  async backup(backupId: string): Promise<BackupRow | null> {
    const { rows } = await this.pool.query('SELECT * FROM verifier.backups WHERE backup_id = $1 AND data IS NOT NULL', [backupId]);
    return rows[0] ? toBackup(rows[0]) : null;
  }

  /**
   * Claims the verification `(backupId, requestKey)` for `owner` (the rules: `decide`'s Claim):
   * claimed (new, or taken over from a dead owner), `done`, or `busy`.
   *
   * Load → decide → write in one transaction, atomic because every claim and start on a backup
   * first takes the backup's advisory lock: what was loaded is still true when it is written. The
   * unique key (backup, request_key) still refuses a second row should anything bypass the lock.
   */
  async claim(
    input: { verificationId: string; backupId: string; resource: string; trigger: Trigger; requestKey: string; owner: string },
    isAlive: IsAlive,
  ): Promise<Claim> {
    return this.tx(async (client) => {
      await lockBackup(client, input.backupId);
      const { rows } = await client.query('SELECT * FROM verifier.verifications WHERE backup_id = $1 AND request_key = $2', [input.backupId, input.requestKey]);
      const existing = rows[0] ? toVerification(rows[0]) : null;
      const decision = decide({ type: 'Claim' }, { current: existing && (await known(existing, isAlive, client)), running: [], backup: null });
      switch (decision.kind) {
        case 'claim': {
          const inserted = await client.query(
            `INSERT INTO verifier.verifications (verification_id, backup_id, resource, trigger, request_key, status, owner)
             VALUES ($1, $2, $3, $4, $5, 'running', $6) ON CONFLICT (backup_id, request_key) DO NOTHING RETURNING *`,
            [input.verificationId, input.backupId, input.resource, input.trigger, input.requestKey, input.owner],
          );
          if (!inserted.rows[0]) throw new Error(`verification (${input.backupId}, ${input.requestKey}) was claimed without the backup's lock`);
          return { kind: 'claimed', verification: toVerification(inserted.rows[0]) };
        }
        case 'done':
        case 'busy':
          return { kind: decision.kind, verification: existing! };
        case 'takeOver': {
          const taken = await client.query(
            `UPDATE verifier.verifications SET status = 'running', owner = $2, attempts = attempts + 1, started_at = clock_timestamp()
              WHERE verification_id = $1 RETURNING *`,
            [decision.verificationId, input.owner],
          );
          return { kind: 'claimed', verification: toVerification(taken.rows[0]) };
        }
        default:
          throw new Error(`a claim cannot end in ${decision.kind}`);
      }
    });
  }

  /**
   * Starts a verification of `backupId` unless one is running with a live owner (returned then);
   * for manual and scrub verifications, whose keys are their own ids (the rules: `decide`'s
   * Start). Load → decide → write under the backup's advisory lock, as `claim`.
   */
  async start(
    input: { verificationId: string; backupId: string; resource: string; trigger: Exclude<Trigger, 'new'>; owner: string; dueBefore?: string },
    isAlive: IsAlive,
  ): Promise<{ started: VerificationRow } | { running: VerificationRow } | { notDue: true }> {
    return this.tx(async (client) => {
      await lockBackup(client, input.backupId);
      const { rows: runningRows } = await client.query(`SELECT * FROM verifier.verifications WHERE backup_id = $1 AND status = 'running' ORDER BY requested_at`, [input.backupId]);
      const running = runningRows.map(toVerification);
      const observed: KnownVerification[] = [];
      for (const row of running) {
        observed.push(await known(row, isAlive, client));
        if (observed.at(-1)!.ownerAlive) break; // once one runs, the later ones change nothing: their owners are not asked
      }
      // Scrubbing: another process may have verified it since the plan was made.
      const backup = input.dueBefore
        ? await client.query('SELECT last_verified_at FROM verifier.backups WHERE backup_id = $1', [input.backupId]).then(({ rows }) => (rows[0] ? { lastVerifiedAt: iso(rows[0].last_verified_at) } : null))
        : null;
      const command: VerificationCommand = { type: 'Start', trigger: input.trigger, dueBefore: input.dueBefore ?? null };
      const decision = decide(command, { current: null, running: observed, backup });
      if (!('abandon' in decision)) throw new Error(`a start cannot end in ${decision.kind}`);
      for (const id of decision.abandon) await client.query(`UPDATE verifier.verifications SET status = 'abandoned' WHERE verification_id = $1`, [id]);
      if (decision.kind === 'running') return { running: running.find((r) => r.verificationId === decision.verificationId)! };
      if (decision.kind === 'notDue') return { notDue: true };
      const { rows } = await client.query(
        `INSERT INTO verifier.verifications (verification_id, backup_id, resource, trigger, request_key, status, owner)
         VALUES ($1, $2, $3, $4, $5, 'running', $6) RETURNING *`,
        [input.verificationId, input.backupId, input.resource, input.trigger, `${input.trigger}:${input.verificationId}`, input.owner],
      );
      return { started: toVerification(rows[0]) };
    });
  }

  /**
   * Records the verdict and its IntegrityVerified envelope (still to be published) and the
   * backup's last verification, in one transaction. False when this process no longer owns the
   * verification (another took it over): its result is then dropped, never published. The rule is
   * `decide`'s Finish; the UPDATE's WHERE enforces it in one atomic statement (no load first, so
   * no window between reading the owner and writing the verdict).
   */
  async finish(verificationId: string, owner: string, result: IntegrityVerifiedV1, envelope: Envelope): Promise<boolean> {
    return this.tx(async (client) => {
      const { rows } = await client.query(
        `UPDATE verifier.verifications SET status = 'done', finished_at = clock_timestamp(), verdict = $3, result = $4, envelope = $5
          WHERE verification_id = $1 AND owner = $2 AND status = 'running' RETURNING backup_id, finished_at`,
        [verificationId, owner, result.verdict, JSON.stringify(result), JSON.stringify(envelope)],
      );
      if (!rows[0]) return false;
      await client.query(
        `UPDATE verifier.backups SET last_verified_at = $2, last_verdict = $3, last_trigger = $4, last_verification_id = $5
          WHERE backup_id = $1 AND (last_verified_at IS NULL OR last_verified_at <= $2)`,
        [rows[0].backup_id, rows[0].finished_at, result.verdict, result.trigger, verificationId],
      );
      return true;
    });
  }

  /** Gives a claim up (the run threw: shutdown, or the verifier's own database failed) so it can be taken over; `decide`'s Abandon rule, enforced by the WHERE as in `finish`. */
  async abandon(verificationId: string, owner: string) {
    await this.pool.query(`UPDATE verifier.verifications SET status = 'abandoned' WHERE verification_id = $1 AND owner = $2 AND status = 'running'`, [verificationId, owner]);
  }

  async markPublished(verificationId: string) {
    await this.pool.query('UPDATE verifier.verifications SET published_at = clock_timestamp() WHERE verification_id = $1 AND published_at IS NULL', [verificationId]);
  }

  /** Verdicts recorded but not yet published (the process died in between, or NATS was down). */
  async unpublished(limit = 100): Promise<VerificationRow[]> {
    const { rows } = await this.pool.query(`SELECT * FROM verifier.verifications WHERE status = 'done' AND published_at IS NULL ORDER BY finished_at LIMIT $1`, [limit]);
    return rows.map(toVerification);
  }

  /** Running verifications of owners other than `owner` (to find dead owners' work at start). */
  async runningElsewhere(owner: string): Promise<VerificationRow[]> {
    const { rows } = await this.pool.query(`SELECT * FROM verifier.verifications WHERE status = 'running' AND owner <> $1`, [owner]);
    return rows.map(toVerification);
  }

  async verification(verificationId: string): Promise<VerificationRow | null> {
    const { rows } = await this.pool.query('SELECT * FROM verifier.verifications WHERE verification_id = $1', [verificationId]);
    return rows[0] ? toVerification(rows[0]) : null;
  }

  async list(query: VerificationQuery): Promise<VerificationRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (query.backupId) add('backup_id = ?', query.backupId);
    if (query.resource) add('resource = ?', query.resource);
    if (query.verdict) add('verdict = ?', query.verdict);
    if (query.trigger) add('trigger = ?', query.trigger);
    if (query.status) add('status = ?', query.status);
    params.push(query.limit);
    const { rows } = await this.pool.query(
      `SELECT * FROM verifier.verifications ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY requested_at DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(toVerification);
  }

  /** Every retained backup (not expired), oldest-verified first (never verified first of all). */
  async retained(resource?: string): Promise<BackupRow[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM verifier.backups WHERE expired_at IS NULL AND data IS NOT NULL ${resource ? 'AND resource = $1' : ''}
        ORDER BY last_verified_at NULLS FIRST, received_at`,
      resource ? [resource] : [],
    );
    return rows.map(toBackup);
  }
}
