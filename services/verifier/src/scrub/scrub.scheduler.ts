import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { redactSecrets, SERVICE_CONFIG } from '@continuity/runtime';
import { formatDuration } from '../config/duration.js';
import { STORE, WAL_STORE } from '../tokens.js';
import type { WalStore } from '../wal/wal.store.js';
import type { VerifierEnv } from '../verifier.env.js';
import { VerificationService } from '../verification/verification.service.js';
import type { VerificationStore } from '../verification/verification.store.js';
import { planScrub } from './scrub.policy.js';
import { WalScrubRound, WalVerificationService } from '../wal/wal-verification.service.js';

export interface ScrubRound {
  at: string;
  retained: number;
  planned: number;
  due: number;
  ahead: number;
  verified: { backupId: string; verdict: string | null }[];
  /** Planned but not verified: verified meanwhile, already being verified, or an error. */
  skipped: { backupId: string; why: string }[];
  /** Stored WAL copies re-read in this round (null: the WAL part failed, logged). */
  wal: WalScrubRound | null;
}

/**
 * Scrubbing: every VERIFIER_SCRUB_EVERY a round re-verifies its share of the retained backups
 * (scrub.policy.ts), so each is re-read at least once per VERIFIER_SCRUB_PERIOD and bit rot or
 * tampering is found without anyone looking. Results are IntegrityVerified with trigger `scrub`.
 * Rounds never overlap; several verifier processes may scrub at once (each backup is claimed).
 */
@Injectable()
export class ScrubScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Scrub');
  private timer?: NodeJS.Timeout;
  private running: Promise<ScrubRound> | null = null;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly env: VerifierEnv,
    @Inject(STORE) private readonly store: VerificationStore,
    private readonly verifications: VerificationService,
    private readonly wal: WalVerificationService,
    @Inject(WAL_STORE) private readonly walStore: WalStore,
  ) {}

  onApplicationBootstrap() {
    if (this.env.VERIFIER_SCRUB === 'off') {
      this.logger.log('scrubbing is off (VERIFIER_SCRUB=off)');
      return;
    }
    this.logger.log(`scrubbing: every retained backup re-verified at least once per ${formatDuration(this.env.VERIFIER_SCRUB_PERIOD)}, a round every ${formatDuration(this.env.VERIFIER_SCRUB_EVERY)}`);
    // The first round soon after start (a verifier that was down for long has catching up to do), then on the interval.
    const first = Math.min(this.env.VERIFIER_SCRUB_EVERY, 60_000);
    this.timer = setTimeout(() => this.tick(), first);
    this.timer.unref();
  }

  private tick() {
    void this.runOnce()
      .catch((error: Error) => this.logger.error(`scrub round failed: ${redactSecrets(error.message)}`))
      .finally(() => {
        if (this.verifications.signal.aborted) return;
        this.timer = setTimeout(() => this.tick(), this.env.VERIFIER_SCRUB_EVERY);
        this.timer.unref();
      });
  }

  /** One round now (`now` is injectable for tests); a round already running is awaited instead. */
  runOnce(now = new Date()): Promise<ScrubRound> {
    this.running ??= this.round(now).finally(() => (this.running = null));
    return this.running;
  }

  private async round(now: Date): Promise<ScrubRound> {
    const retained = await this.store.retained();
    const plan = planScrub({
      now: now.getTime(),
      periodMs: this.env.VERIFIER_SCRUB_PERIOD,
      everyMs: this.env.VERIFIER_SCRUB_EVERY,
      backups: retained.map((b) => ({ backupId: b.backupId, lastVerifiedAt: b.lastVerifiedAt ? Date.parse(b.lastVerifiedAt) : null })),
    });
    const byId = new Map(retained.map((b) => [b.backupId, b]));
    const notVerifiedSince = new Date(plan.notVerifiedSince).toISOString();
    const results = await Promise.allSettled(plan.backupIds.map((id) => this.verifications.scrub(byId.get(id)!, notVerifiedSince)));
    const round: ScrubRound = { at: now.toISOString(), retained: retained.length, planned: plan.backupIds.length, due: plan.due, ahead: plan.ahead, verified: [], skipped: [], wal: null };
    results.forEach((result, i) => {
      const backupId = plan.backupIds[i]!;
      if (result.status === 'rejected') round.skipped.push({ backupId, why: (result.reason as Error).message });
      else if (result.value) round.verified.push({ backupId, verdict: result.value.verdict });
      else round.skipped.push({ backupId, why: 'verified meanwhile or being verified' });
    });
    if (round.planned) {
      const failed = round.verified.filter((v) => v.verdict !== 'passed');
      this.logger.log(
        `scrub round: ${round.verified.length} of ${round.retained} retained backups re-verified (${plan.due} due, ${plan.ahead} ahead)${failed.length ? `; NOT passed: ${failed.map((f) => `${f.backupId} ${f.verdict}`).join(', ')}` : ''}`,
      );
    }
    // WAL copies on the same cadence and policy: each archived file re-read at least once per period.
    round.wal = await this.scrubWal(now).catch((error: Error) => {
      this.logger.error(`WAL scrub failed: ${redactSecrets(error.message)}`);
      return null;
    });
    return round;
  }

  /** Archived WAL files, planned as backups are (a file is keyed by resource and name). */
  private async scrubWal(now: Date) {
    const files = await this.walStore.allFiles();
    const key = (f: { resource: string; name: string }) => `${f.resource}\u0000${f.name}`;
    const plan = planScrub({
      now: now.getTime(),
      periodMs: this.env.VERIFIER_SCRUB_PERIOD,
      everyMs: this.env.VERIFIER_SCRUB_EVERY,
      backups: files.map((f) => ({ backupId: key(f), lastVerifiedAt: f.lastCheckedAt ? Date.parse(f.lastCheckedAt) : null })),
    });
    const chosen = new Set(plan.backupIds);
    return this.wal.scrub(files.filter((f) => chosen.has(key(f))), files.length);
  }

  onModuleDestroy() {
    clearTimeout(this.timer);
  }
}
