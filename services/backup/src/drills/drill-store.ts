import type { Pool } from 'pg';
import { migrateUnderLock } from '@continuity/runtime/standalone';
import { DomainError, type DrillCompletedV1, type DrillKind, type DrillStartedV1, type DrillStepCompletedV1 } from '@continuity/contracts';

/** A drill as `GET /drills/{id}` shows it: what its events said so far. */
export interface DrillView {
  drillId: string;
  resource: string;
  kind: DrillKind;
  state: 'running' | 'passed' | 'failed';
  started: DrillStartedV1;
  steps: DrillStepCompletedV1[];
  completed: DrillCompletedV1 | null;
  /** The scratch target of the step under way (no password: `scratch` may not carry one), so a drill abandoned by a dead process can still be cleaned up. */
  scratchInUse?: string | null;
}

export const DRILLS_SCHEMA_SQL = `
CREATE SCHEMA IF NOT EXISTS backup;
CREATE TABLE IF NOT EXISTS backup.drills (
  drill_id   uuid PRIMARY KEY,
  resource   text NOT NULL,
  kind       text NOT NULL,
  state      text NOT NULL CHECK (state IN ('running', 'passed', 'failed')),
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  view       jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS drills_by_resource ON backup.drills (resource, started_at DESC);
-- One drill per resource at a time, across every instance and the CLI.
CREATE UNIQUE INDEX IF NOT EXISTS drills_one_running_per_resource ON backup.drills (resource) WHERE state = 'running';
`;

export class DrillNotFoundError extends DomainError {
  constructor(drillId: string) {
    super('DRILL.NOT_FOUND', `drill ${drillId} is not known`, 404);
  }
}

export class DrillAlreadyRunningError extends DomainError {
  constructor(resource: string, runningDrillId: string | null) {
    super('DRILL.ALREADY_RUNNING', `a drill of ${resource} is running already${runningDrillId ? ` (${runningDrillId})` : ''}: one at a time per resource`, 409, { runningDrillId });
  }
}

/**
 * Drills in the catalogue's database (schema `backup`), so any instance answers `GET /drills/{id}`
 * whichever ran it. The events are the record; this is their current view.
 */
export class DrillStore {
  constructor(private readonly pool: Pool) {}

  /** Creates the schema if needed; safe to run from several processes at once. */
  async migrate(): Promise<void> {
    await migrateUnderLock(this.pool, 'continuity.backup.drills', DRILLS_SCHEMA_SQL);
  }

  /** Records a new running drill; DrillAlreadyRunningError when the resource has one. */
  async begin(view: DrillView): Promise<void> {
    try {
      await this.save(view);
    } catch (error) {
      if ((error as { code?: string }).code !== '23505') throw error;
      throw new DrillAlreadyRunningError(view.resource, await this.running(view.resource));
    }
  }

  async save(view: DrillView): Promise<void> {
    await this.pool.query(
      `INSERT INTO backup.drills (drill_id, resource, kind, state, started_at, finished_at, view) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (drill_id) DO UPDATE SET state = excluded.state, finished_at = excluded.finished_at, view = excluded.view`,
      [view.drillId, view.resource, view.kind, view.state, view.started.startedAt, view.completed?.finishedAt ?? null, JSON.stringify(view)],
    );
  }

  async get(drillId: string): Promise<DrillView> {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
    if (!uuid.test(drillId)) throw new DrillNotFoundError(drillId);
    const { rows } = await this.pool.query('SELECT view FROM backup.drills WHERE drill_id = $1', [drillId]);
    if (!rows[0]) throw new DrillNotFoundError(drillId);
    return rows[0].view as DrillView;
  }

  /** A drill of `resource` still running (one at a time per resource), or null. */
  async running(resource: string): Promise<string | null> {
    const { rows } = await this.pool.query(`SELECT drill_id FROM backup.drills WHERE resource = $1 AND state = 'running' LIMIT 1`, [resource]);
    return rows[0]?.drill_id ?? null;
  }

  /** Every drill still `running` (housekeeping decides which were abandoned). */
  async runningDrills(): Promise<DrillView[]> {
    const { rows } = await this.pool.query(`SELECT view FROM backup.drills WHERE state = 'running' ORDER BY started_at`);
    return rows.map((r) => r.view as DrillView);
  }
}
