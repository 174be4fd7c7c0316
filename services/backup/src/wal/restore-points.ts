import type { ContinuityPublisher, Envelope } from '@continuity/contracts';
import { redactSecrets } from '@continuity/runtime/standalone';
import type { LoggerLike } from '../backup-run/backup-runner.js';
import type { ResolvedPolicy } from '../config/backup-config.loader.js';
import { createRestorePoint, withSession } from './wal-server.js';

/**
 * A restore point's name: `continuity_<UTC time to the millisecond>`, e.g.
 * `continuity_20261201T005500123Z` (30 characters: well under PostgreSQL's 64, only letters,
 * digits and `_`, so it is safe in a `recovery_target_name`). Pure: the time is passed in.
 */
export const restorePointName = (at: Date) => `continuity_${at.toISOString().replace(/[-:.]/g, '')}`;

/** Delay until the next multiple of `intervalMs` since the epoch: restore points at known times (every 5 min: :00, :05, …). */
export const nextRestorePointDelay = (nowMs: number, intervalMs: number) => intervalMs - (nowMs % intervalMs);

export interface RestorePointDeps {
  policy: ResolvedPolicy;
  publisher: ContinuityPublisher;
  queue: (event: Envelope) => Promise<void>;
  flush: () => Promise<unknown>;
  logger?: LoggerLike;
  now?: () => Date;
  /** The server to create points in (the archive's, which may follow a new primary); default the resource's connection. */
  connection?: () => string;
}

/**
 * Creates named restore points in a WAL-archived resource (`pg_create_restore_point`, through a
 * session with the policy's own connection) and records each with `RestorePointCreated` through
 * the outbox: on a timer (`wal.restorePointIntervalMs`, at multiples of it since the epoch) and
 * on demand (right after a base backup). The role needs EXECUTE on pg_create_restore_point
 * (superuser by default; grantable). A failure is logged and the next tick tries again.
 */
export class RestorePoints {
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => Date;

  constructor(private readonly deps: RestorePointDeps) {
    if (deps.policy.resource.kind !== 'postgres' || !deps.policy.wal) throw new Error(`policy ${deps.policy.name} archives no PostgreSQL WAL`);
    this.now = deps.now ?? (() => new Date());
  }

  async create(trigger: 'interval' | 'base-backup', backupId: string | null = null): Promise<Envelope<'RestorePointCreated'>> {
    const policy = this.deps.policy;
    const at = this.now();
    const name = restorePointName(at);
    const connection = this.deps.connection?.() ?? (policy.resource as { connection: string }).connection;
    const { lsn, timeline } = await withSession(connection, (client) => createRestorePoint(client, name));
    const event = this.deps.publisher.build('RestorePointCreated', {
      resource: policy.resourceName,
      data: { policy: policy.name, name, lsn, timeline, createdAt: at.toISOString(), trigger, backupId },
    });
    await this.deps.queue(event);
    await this.deps.flush();
    this.deps.logger?.log(`restore point ${name} of ${policy.resourceName} at ${lsn} (timeline ${timeline}, ${trigger})`);
    return event as Envelope<'RestorePointCreated'>;
  }

  start() {
    const interval = this.deps.policy.wal!.restorePointIntervalMs;
    const tick = () => {
      this.timer = setTimeout(() => {
        this.create('interval')
          .catch((error: Error) => this.deps.logger?.warn(`restore point of ${this.deps.policy.resourceName}: ${redactSecrets(error.message)} (tried again in ${interval} ms)`))
          .finally(() => this.timer && tick());
      }, nextRestorePointDelay(this.now().getTime(), interval));
      this.timer.unref();
    };
    tick();
  }

  stop() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
