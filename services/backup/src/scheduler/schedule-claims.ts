import type { Pool } from 'pg';

/** The outcome of trying to claim a slot: won (with the policy's previous claimed slot) or taken by another. */
export type ClaimResult = { won: true; previous: Date | null } | { won: false };

/**
 * Claims of scheduled runs, in the catalogue (`backup.schedule_claims`, created with its schema).
 *
 * Delivery guarantee: each (policy, slot) is claimed at most once across every instance sharing
 * the database — the primary key decides, with no lock held and no leader to elect — and only the
 * instance whose insert wins starts the backup. A claim is never retried: a slot whose run could
 * not start (a backup of the resource already running, a manual one or a long previous slot's)
 * keeps its claim with the reason in `skipped`; an instance that dies between claiming and
 * starting loses that slot, and the next slot runs as usual.
 */
export class ScheduleClaims {
  constructor(private readonly pool: Pool) {}

  async claim(policy: string, slot: Date, claimant: string): Promise<ClaimResult> {
    // The previous slot is read in the same statement as the insert, for the "N slots missed" log line.
    const { rows } = await this.pool.query(
      `WITH previous AS (SELECT max(slot) AS slot FROM backup.schedule_claims WHERE policy = $1 AND slot < $2),
            won AS (INSERT INTO backup.schedule_claims (policy, slot, claimed_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING slot)
       SELECT previous.slot AS previous FROM won, previous`,
      [policy, slot, claimant],
    );
    return rows[0] ? { won: true, previous: rows[0].previous ?? null } : { won: false };
  }

  /** Links the claim to the backup it started. */
  async started(policy: string, slot: Date, backupId: string): Promise<void> {
    await this.pool.query('UPDATE backup.schedule_claims SET backup_id = $3 WHERE policy = $1 AND slot = $2', [policy, slot, backupId]);
  }

  /**
   * Forgets claims older than `keepMs` (an `every 1s` policy makes 86,400 a day), except each
   * policy's latest: it is what the next claim counts missed slots from.
   */
  async prune(keepMs: number): Promise<number> {
    const { rowCount } = await this.pool.query(
      `DELETE FROM backup.schedule_claims c WHERE c.slot < now() - ($1::text || ' milliseconds')::interval
          AND c.slot < (SELECT max(slot) FROM backup.schedule_claims l WHERE l.policy = c.policy)`,
      [String(keepMs)],
    );
    return rowCount ?? 0;
  }

  /** Records why the claimed slot did not run; it is not tried again. */
  async skipped(policy: string, slot: Date, reason: string): Promise<void> {
    await this.pool.query('UPDATE backup.schedule_claims SET skipped = $3 WHERE policy = $1 AND slot = $2', [policy, slot, reason]);
  }
}
