import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { PG_POOL, SERVICE_CONFIG } from '@continuity/runtime';
import type { BackupConfig, ResolvedPolicy } from '../config/backup-config.loader.js';
import type { BackupRunner } from '../backup-run/backup-runner.js';
import type { RetentionRunner } from '../retention/retention.runner.js';
import type { BackupEnv } from '../backup.env.js';
import { BACKUP_CONFIG, BACKUP_RUNNER, RETENTION } from '../tokens.js';
import { ScheduleClaims } from './schedule-claims.js';
import { ScheduledRuns } from './scheduled-runs.js';

const MAX_TIMER_MS = 6 * 3_600_000; // timers are re-armed at least this often (no 24.8-day setTimeout overflow)
const HOUSEKEEPING_MS = 60_000;
const RETRY_MS = 5_000; // a tick that could not reach the catalogue is tried again this soon
const KEEP_CLAIMS_MS = 7 * 86_400_000; // claims are kept a week: enough to see what ran when, and why not

/**
 * Runs each policy on its schedule (cron in UTC, or an interval anchored to the Unix epoch),
 * applies retention every hour besides after each backup, and keeps housekeeping going: queued
 * events re-published, runs abandoned by a crashed process recorded as failed and cleaned up.
 *
 * Delivery guarantee: each slot of a policy runs at most once across every instance (a claim in
 * the catalogue, `ScheduledRuns`); a slot is claimed when it begins, or at start for the slot the
 * process starts in, so after an outage the latest missed slot runs once and a restart within a
 * slot that already ran does not run it again.
 */
@Injectable()
export class BackupScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('BackupScheduler');
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<unknown>>();
  private stopped = false;
  private readonly slots: ScheduledRuns;
  private readonly claims: ScheduleClaims;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly env: BackupEnv,
    @Inject(BACKUP_CONFIG) private readonly config: BackupConfig,
    @Inject(BACKUP_RUNNER) private readonly runner: BackupRunner,
    @Inject(RETENTION) private readonly retention: RetentionRunner,
    @Inject(PG_POOL) pool: Pool,
  ) {
    const claimant = `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
    this.claims = new ScheduleClaims(pool);
    this.slots = new ScheduledRuns({ claims: this.claims, runner, claimant, logger: this.logger });
    this.logger.log(`instance ${claimant}`);
  }

  async onApplicationBootstrap() {
    await this.housekeeping();
    this.every(HOUSEKEEPING_MS, () => this.housekeeping());
    if (this.env.BACKUP_SCHEDULER === 'off') {
      this.logger.log('BACKUP_SCHEDULER=off: scheduled backups and retention are disabled in this process');
      return;
    }
    for (const policy of this.config.policies.values()) if (policy.schedule) this.tick(policy);
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

  /** Claims and runs the current slot if no instance has, then waits for the next slot. */
  private tick(policy: ResolvedPolicy) {
    if (this.stopped) return;
    void this.track(
      this.slots.tick(policy, new Date()).then(
        (outcome) => {
          if ('done' in outcome) void this.track(outcome.done);
          this.arm(policy, outcome.next);
        },
        (error: Error) => {
          this.logger.warn(`schedule of ${policy.name}: ${error.message} (retrying in ${RETRY_MS} ms)`);
          this.arm(policy, new Date(Date.now() + RETRY_MS));
        },
      ),
    );
  }

  /**
   * The next tick at `at`. Not after the run ends: a slot that begins while the previous slot's
   * backup runs is claimed too, and recorded as skipped (one run per resource) rather than lost.
   */
  private arm(policy: ResolvedPolicy, at: Date | null) {
    if (this.stopped || !at) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.tick(policy); // early or a long wait cut short (MAX_TIMER_MS): the tick finds nothing to claim and re-arms
    }, Math.max(0, Math.min(at.getTime() - Date.now(), MAX_TIMER_MS)));
    timer.unref();
    this.timers.add(timer);
  }

  private async applyRetention() {
    for (const policy of this.config.policies.values()) {
      await this.retention.apply(policy, () => this.runner.flushOutbox()).catch((error: Error) => this.logger.warn(`retention of ${policy.name}: ${error.message}`));
    }
  }

  private async housekeeping() {
    await this.runner.recoverAbandoned().catch((error: Error) => this.logger.warn(`recovering abandoned runs: ${error.message}`));
    await this.runner.flushOutbox();
    await this.claims.prune(KEEP_CLAIMS_MS).catch((error: Error) => this.logger.warn(`pruning schedule claims: ${error.message}`));
  }
}
