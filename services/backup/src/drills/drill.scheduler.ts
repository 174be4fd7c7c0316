import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { PG_POOL, SERVICE_CONFIG } from '@continuity/runtime';
import type { BackupConfig, ResolvedDrill } from '../config/backup-config.loader.js';
import type { BackupEnv } from '../backup.env.js';
import { ScheduleClaims } from '../scheduler/schedule-claims.js';
import { decideSlot } from '../scheduler/schedule-slots.policy.js';
import { BACKUP_CONFIG, DRILLS } from '../tokens.js';
import type { DrillCoordinator } from './drill-coordinator.js';

const MAX_TIMER_MS = 6 * 3_600_000;
const RETRY_MS = 5_000;
const HOUSEKEEPING_MS = 60_000;

/** The claim key of a resource's drill schedule: beside the policies' own in `backup.schedule_claims`. */
export const drillClaimKey = (resource: string) => `drill:${resource}`;

/**
 * Runs each resource's drill on its `drills.<resource>.schedule`, with the same slots and the
 * same PostgreSQL claims as scheduled backups (decision 0011): each slot is claimed once across
 * every instance, and only the winner runs the drill. A slot whose drill cannot start (one is
 * running) is recorded as skipped with the reason.
 */
@Injectable()
export class DrillScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('DrillScheduler');
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly handled = new Map<string, Date>();
  private readonly claims: ScheduleClaims;
  private readonly claimant = `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  private stopped = false;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly env: BackupEnv,
    @Inject(BACKUP_CONFIG) private readonly config: BackupConfig,
    @Inject(DRILLS) private readonly drills: DrillCoordinator,
    @Inject(PG_POOL) pool: Pool,
  ) {
    this.claims = new ScheduleClaims(pool);
  }

  onApplicationBootstrap() {
    // Housekeeping in every process: a drill whose coordinating process died is ended and cleaned up.
    const housekeeping = setInterval(() => {
      if (!this.stopped) void this.drills.recoverAbandoned(new Date()).catch((error: Error) => this.logger.warn(`ending abandoned drills: ${error.message}`));
    }, HOUSEKEEPING_MS);
    housekeeping.unref();
    this.timers.add(housekeeping as unknown as NodeJS.Timeout);
    if (this.env.BACKUP_SCHEDULER === 'off') return;
    for (const drill of this.config.drills.values()) if (drill.schedule) void this.tick(drill);
  }

  onApplicationShutdown() {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers.clear();
  }

  private async tick(drill: ResolvedDrill): Promise<void> {
    if (this.stopped || !drill.schedule) return;
    const key = drillClaimKey(drill.resourceName);
    let next: Date | null;
    try {
      const decision = decideSlot(drill.schedule, new Date(), this.handled.get(key) ?? null);
      next = decision.next;
      if (decision.action === 'claim') {
        const claim = await this.claims.claim(key, decision.slot, this.claimant);
        this.handled.set(key, decision.slot);
        if (claim.won) {
          try {
            const { view } = await this.drills.start(drill.resourceName, { trigger: 'schedule', requestedBy: null, scheduleSlot: decision.slot });
            this.logger.log(`scheduled drill ${view.drillId} of ${drill.resourceName} (slot ${decision.slot.toISOString()})`);
          } catch (error) {
            const reason = `could not start: ${(error as Error).message}`;
            this.logger.warn(`scheduled drill of ${drill.resourceName} for slot ${decision.slot.toISOString()} skipped: ${reason}`);
            await this.claims.skipped(key, decision.slot, reason);
          }
        }
      }
    } catch (error) {
      this.logger.warn(`drill schedule of ${drill.resourceName}: ${(error as Error).message} (retrying in ${RETRY_MS} ms)`);
      next = new Date(Date.now() + RETRY_MS);
    }
    if (this.stopped || !next) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.tick(drill);
    }, Math.max(0, Math.min(next.getTime() - Date.now(), MAX_TIMER_MS)));
    timer.unref();
    this.timers.add(timer);
  }
}
