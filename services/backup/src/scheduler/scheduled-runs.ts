import type { ResolvedPolicy } from '../config/backup-config.loader.js';
import { BackupAlreadyRunningError } from '../backup-run/backup-run.errors.js';
import type { BackupRunner, LoggerLike, RunOutcome } from '../backup-run/backup-runner.js';
import type { ScheduleClaims } from './schedule-claims.js';
import { decideSlot, slotsBetween } from './schedule-slots.policy.js';

/** What one tick did for a policy; `next` is when its next slot begins (null: never). */
export type TickOutcome = { next: Date | null } & (
  | { slot: null }
  | { slot: Date; claimed: false }
  | { slot: Date; claimed: true; backupId: string; done: Promise<RunOutcome> }
  | { slot: Date; claimed: true; skipped: string }
);

export interface ScheduledRunsDeps {
  claims: ScheduleClaims;
  runner: Pick<BackupRunner, 'start'>;
  /** This instance, as recorded in its claims: hostname, pid and a random part. */
  claimant: string;
  logger: LoggerLike;
}

/**
 * One tick of the schedule for a policy, with the time passed in: claim the current slot and run
 * it only if this instance won the claim. The timers are the scheduler's; this is what they call.
 */
export class ScheduledRuns {
  /** The latest slot per policy this instance claimed or found claimed: spares a query per tick. */
  private readonly handled = new Map<string, Date>();

  constructor(private readonly deps: ScheduledRunsDeps) {}

  async tick(policy: ResolvedPolicy, now: Date): Promise<TickOutcome> {
    if (!policy.schedule) return { slot: null, next: null };
    const decision = decideSlot(policy.schedule, now, this.handled.get(policy.name) ?? null);
    if (decision.action === 'wait') return { slot: null, next: decision.next };
    const { slot, next } = decision;
    const claim = await this.deps.claims.claim(policy.name, slot, this.deps.claimant);
    this.handled.set(policy.name, slot);
    if (!claim.won) return { slot, claimed: false, next };

    const { logger } = this.deps;
    const missed = claim.previous ? slotsBetween(policy.schedule, claim.previous, slot) : 0;
    if (missed > 0) logger.warn(`policy ${policy.name}: ${missed} slot(s) after ${claim.previous!.toISOString()} were missed (no instance ran); running the latest, ${slot.toISOString()}, once`);
    let started: Awaited<ReturnType<BackupRunner['start']>>;
    try {
      started = await this.deps.runner.start(policy.resourceName, { trigger: 'schedule' });
    } catch (error) {
      // The slot stays claimed either way: it is recorded as skipped, never retried by another instance.
      const reason = error instanceof BackupAlreadyRunningError ? error.message : `could not start: ${(error as Error).message}`;
      logger.warn(`scheduled backup of ${policy.resourceName} for slot ${slot.toISOString()} skipped: ${reason}`);
      await this.deps.claims.skipped(policy.name, slot, reason);
      return { slot, claimed: true, skipped: reason, next };
    }
    // The backup runs whatever this link does: it only tells which backup served the slot.
    await this.deps.claims.started(policy.name, slot, started.backupId).catch((error: Error) => logger.warn(`claim of ${policy.name} ${slot.toISOString()}: ${error.message}`));
    return { slot, claimed: true, backupId: started.backupId, done: started.done, next };
  }
}
