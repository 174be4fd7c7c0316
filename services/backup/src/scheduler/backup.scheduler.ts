import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { SERVICE_CONFIG } from '@continuity/runtime';
import type { BackupConfig, ResolvedPolicy } from '../config/backup-config.loader.js';
import { nextRunAfter } from '../config/schedule.js';
import { BackupAlreadyRunningError } from '../backup-run/backup-run.errors.js';
import type { BackupRunner } from '../backup-run/backup-runner.js';
import type { RetentionRunner } from '../retention/retention.runner.js';
import type { BackupEnv } from '../backup.env.js';
import { BACKUP_CONFIG, BACKUP_RUNNER, RETENTION } from '../tokens.js';

const MAX_TIMER_MS = 6 * 3_600_000; // timers are re-armed at least this often (no 24.8-day setTimeout overflow)
const HOUSEKEEPING_MS = 60_000;

/**
 * Runs each policy on its schedule (cron in UTC, or an interval from the service start), applies
 * retention every hour besides after each backup, and keeps housekeeping going: queued events
 * re-published, runs abandoned by a crashed process recorded as failed and cleaned up.
 */
@Injectable()
export class BackupScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('BackupScheduler');
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<unknown>>();
  private stopped = false;
  private readonly startedAt = new Date();

  constructor(
    @Inject(SERVICE_CONFIG) private readonly env: BackupEnv,
    @Inject(BACKUP_CONFIG) private readonly config: BackupConfig,
    @Inject(BACKUP_RUNNER) private readonly runner: BackupRunner,
    @Inject(RETENTION) private readonly retention: RetentionRunner,
  ) {}

  async onApplicationBootstrap() {
    await this.housekeeping();
    this.every(HOUSEKEEPING_MS, () => this.housekeeping());
    if (this.env.BACKUP_SCHEDULER === 'off') {
      this.logger.log('BACKUP_SCHEDULER=off: scheduled backups and retention are disabled in this process');
      return;
    }
    for (const policy of this.config.policies.values()) if (policy.schedule) this.arm(policy);
    this.every(3_600_000, () => this.applyRetention());
  }

  async onApplicationShutdown() {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    // Let running backups finish (the runtime allows 30 s); one cut short is recovered at next start.
    await Promise.race([Promise.allSettled([...this.running]), new Promise((resolve) => setTimeout(resolve, 20_000).unref())]);
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    void work.finally(() => this.running.delete(work)).catch(() => undefined);
    return work;
  }

  private every(ms: number, work: () => Promise<unknown>) {
    const timer = setInterval(() => {
      if (!this.stopped) void this.track(work().catch((error: Error) => this.logger.warn(error.message)));
    }, ms);
    timer.unref();
    this.timers.add(timer as unknown as NodeJS.Timeout);
  }

  private arm(policy: ResolvedPolicy) {
    if (this.stopped || !policy.schedule) return;
    const now = new Date();
    const next = nextRunAfter(policy.schedule, now, this.startedAt);
    const delay = Math.min(next.getTime() - now.getTime(), MAX_TIMER_MS);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (Date.now() + 5 < next.getTime()) return this.arm(policy); // a long wait, re-armed
      void this.track(this.runScheduled(policy)).finally(() => this.arm(policy));
    }, Math.max(0, delay));
    timer.unref();
    this.timers.add(timer);
  }

  private async runScheduled(policy: ResolvedPolicy) {
    try {
      const { done } = await this.runner.start(policy.resourceName, { trigger: 'schedule' });
      await done;
    } catch (error) {
      if (error instanceof BackupAlreadyRunningError) this.logger.warn(`scheduled backup of ${policy.resourceName} skipped: ${error.message}`);
      else this.logger.error(`scheduled backup of ${policy.resourceName} could not start: ${(error as Error).message}`);
    }
  }

  private async applyRetention() {
    for (const policy of this.config.policies.values()) {
      await this.retention.apply(policy, () => this.runner.flushOutbox()).catch((error: Error) => this.logger.warn(`retention of ${policy.name}: ${error.message}`));
    }
  }

  private async housekeeping() {
    await this.runner.recoverAbandoned().catch((error: Error) => this.logger.warn(`recovering abandoned runs: ${error.message}`));
    await this.runner.flushOutbox();
  }
}
