import { METRICS } from '@continuity/telemetry';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { metrics } from '@opentelemetry/api';
import type { PoolClient } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { ContinuityEvent, ContinuityPublisher, Envelope, IntegrityVerifiedV1 } from '@continuity/contracts';
import { PUBLISHER, redactSecrets, SERVICE_CONFIG } from '@continuity/runtime';
import { resourceOptions, VerifierConfig } from '../config/verifier-config.js';
import type { CopyReaders } from '../copies/copy-reader.js';
import type { InstanceLiveness } from '../liveness/instance-liveness.js';
import type { Scratch } from '../restore-test/scratch.js';
import { LIVENESS, READERS, RUNNER, SCRATCH, STORE, VERIFIER_CONFIG } from '../tokens.js';
import type { VerifierEnv } from '../verifier.env.js';
import { decide, PRIORITY } from './verification.decider.js';
import { BackupExpiredError, BackupNotFoundError, ShutdownError, VerificationRunningError } from './verification.errors.js';
import { Slots } from './slots.js';
import type { VerificationRunner } from './verification.runner.js';
import type { BackupRow, VerificationRow, VerificationStore } from './verification.store.js';

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Verifications, whatever starts them (a BackupCreated, an operator, the scrubber): claimed in the
 * verifier's table, run within the shared concurrency limit, recorded, then published.
 *
 * Delivery guarantees: the verdict and its IntegrityVerified envelope are committed before the
 * publish, and the envelope keeps its id, so a crash between the two re-publishes the same event
 * (JetStream drops the duplicate inside its window) and never makes a second verdict. A
 * BackupCreated's verification is claimed under the unique key (backup, 'new'): a redelivery finds
 * it done (acked, nothing published again), running here (waits for it), running in another live
 * process (waits), or abandoned by a dead process (takes it over).
 */
@Injectable()
export class VerificationService implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Verification');
  private readonly stopping = new AbortController();
  private readonly slots: Slots;
  /** Verifications running in this process, by id. */
  private readonly local = new Map<string, Promise<unknown>>();
  private readonly background = new Set<Promise<unknown>>();
  private relayTimer?: NodeJS.Timeout;
  private readonly instruments = (() => {
    const meter = metrics.getMeter('@continuity/verifier');
    return {
      verdicts: meter.createCounter('continuity_verifications', { description: 'verdicts recorded, by verdict and trigger' }),
      duration: meter.createHistogram('continuity_verification_duration', { description: 'time to verify a backup (every copy and the restore test)', unit: 'ms' }),
      restore: meter.createHistogram('continuity_restore_test_duration', { description: 'measured restore time (restore RTO) of restore tests', unit: 'ms' }),
      replay: meter.createHistogram('continuity_wal_replay_duration', { description: 'WAL replay time of base-backup restore tests (to a restore point or the latest archived WAL)', unit: 'ms' }),
      copies: meter.createCounter(METRICS.copyChecks.instrument, { description: METRICS.copyChecks.help }),
    };
  })();

  constructor(
    @Inject(SERVICE_CONFIG) private readonly env: VerifierEnv,
    @Inject(VERIFIER_CONFIG) private readonly config: VerifierConfig,
    @Inject(STORE) private readonly store: VerificationStore,
    @Inject(LIVENESS) private readonly liveness: InstanceLiveness,
    @Inject(RUNNER) private readonly runner: VerificationRunner,
    @Inject(READERS) private readonly readers: CopyReaders,
    @Inject(SCRATCH) private readonly scratch: Scratch,
    @Inject(PUBLISHER) private readonly publisher: ContinuityPublisher,
  ) {
    this.slots = new Slots(env.VERIFIER_CONCURRENCY);
  }

  private get me() {
    return this.liveness.instanceId;
  }

  /** Is the verification still being worked on? Here: only if it runs here (else this process gave it up); elsewhere: if its process lives. */
  private readonly isAlive = (owner: string, verificationId: string, client: PoolClient) =>
    owner === this.me ? Promise.resolve(this.local.has(verificationId)) : this.liveness.isAlive(owner, client);

  get signal() {
    return this.stopping.signal;
  }

  /** BackupCreated handled in this process right now, by backup: a duplicate delivery waits for the first. */
  private readonly newInProgress = new Map<string, Promise<unknown>>();

  /** A BackupCreated: verify the backup once (idempotent under redelivery); resolves with the verification. */
  async verifyNew(event: ContinuityEvent<'BackupCreated'>): Promise<VerificationRow | null> {
    const backupId = event.data.backupId;
    for (let first = this.newInProgress.get(backupId); first; first = this.newInProgress.get(backupId)) await first.catch(() => undefined);
    const work = this.verifyNewOnce(event);
    this.newInProgress.set(backupId, work);
    try {
      return await work;
    } finally {
      if (this.newInProgress.get(backupId) === work) this.newInProgress.delete(backupId);
    }
  }

  private async verifyNewOnce(event: ContinuityEvent<'BackupCreated'>): Promise<VerificationRow | null> {
    await this.store.recordBackup(event);
    const backup = await this.store.backup(event.data.backupId);
    if (!backup) throw new Error(`backup ${event.data.backupId} was recorded but cannot be read back`);
    if (backup.expiredAt) {
      this.logger.warn(`backup ${backup.backupId} of ${backup.resource} expired (${backup.expiredAt}) before it could be verified: nothing to verify`);
      return null;
    }
    for (;;) {
      const claim = await this.store.claim(
        { verificationId: uuidv7(), backupId: backup.backupId, resource: backup.resource, trigger: 'new', requestKey: 'new', owner: this.me },
        this.isAlive,
      );
      if (claim.kind === 'done') {
        if (!claim.verification.publishedAt) await this.publish(claim.verification.verificationId, claim.verification.envelope!);
        return claim.verification;
      }
      if (claim.kind === 'claimed') return this.execute(claim.verification, backup);
      // Busy: running here (a duplicate delivery: wait for it), or in another live process (wait for its verdict).
      const here = this.local.get(claim.verification.verificationId);
      if (here) await here.catch(() => undefined);
      else await sleep(1_000, this.stopping.signal);
    }
  }

  /** An operator's request: starts a verification now (in the background) and returns it. */
  async requestManual(backupId: string): Promise<VerificationRow> {
    const backup = await this.store.backup(backupId);
    if (!backup) throw new BackupNotFoundError(`no backup ${backupId} is known to the verifier (it learns of backups from BackupCreated events)`);
    if (backup.expiredAt) throw new BackupExpiredError(`backup ${backupId} of ${backup.resource} expired at ${backup.expiredAt}: its copies were deleted`);
    const started = await this.store.start({ verificationId: uuidv7(), backupId, resource: backup.resource, trigger: 'manual', owner: this.me }, this.isAlive);
    if ('running' in started) throw new VerificationRunningError(backupId, started.running.verificationId);
    if ('notDue' in started) throw new Error('unreachable: manual verifications are always due');
    this.inBackground(this.execute(started.started, backup), `manual verification of ${backupId}`);
    return started.started;
  }

  /** The scrubber's: verifies `backup` unless it was verified since `dueBefore` or is being verified. */
  async scrub(backup: BackupRow, dueBefore: string): Promise<VerificationRow | null> {
    const started = await this.store.start({ verificationId: uuidv7(), backupId: backup.backupId, resource: backup.resource, trigger: 'scrub', owner: this.me, dueBefore }, this.isAlive);
    if (!('started' in started)) return null;
    return this.execute(started.started, backup);
  }

  private inBackground(work: Promise<unknown>, what: string) {
    const tracked = work.catch((error: Error) => {
      if (error.name !== 'AbortError') this.logger.error(`${what} failed: ${redactSecrets(error.message)}`);
    });
    this.background.add(tracked);
    void tracked.finally(() => this.background.delete(tracked));
  }

  /** Runs a claimed verification within the concurrency limit; records, then publishes, its verdict. */
  private async execute(verification: VerificationRow, backup: BackupRow): Promise<VerificationRow | null> {
    const run = (async () => {
      const release = await this.slots.acquire(PRIORITY[verification.trigger], this.stopping.signal);
      const started = performance.now();
      try {
        const options = resourceOptions(this.config, backup.resource);
        const result = await this.runner.run(backup.resource, backup.data, {
          restoreTest: this.env.VERIFIER_RESTORE_TEST === 'on' && options.restoreTest,
          signal: this.stopping.signal,
          deadlineMs: this.env.VERIFIER_DEADLINE_MS,
        });
        const data: IntegrityVerifiedV1 = { ...result, trigger: verification.trigger };
        // Caused by the BackupCreated, in its correlation: one backup, one chain of facts.
        const envelope = this.publisher.build('IntegrityVerified', { resource: backup.resource, data, correlationId: backup.correlationId, causationId: backup.eventId });
        if (!(await this.store.finish(verification.verificationId, this.me, data, envelope))) {
          this.logger.warn(`verification ${verification.verificationId} of ${backup.backupId} was taken over by another process: its result is dropped`);
          return null;
        }
        this.instruments.verdicts.add(1, { verdict: data.verdict, trigger: data.trigger });
        for (const copy of data.copies) this.instruments.copies.add(1, { resource: backup.resource, location: copy.location, outcome: copy.hashMatch ? 'passed' : 'failed' });
        this.instruments.duration.record(performance.now() - started, { trigger: data.trigger });
        if (data.restoreTest && data.restoreTest.status !== 'skipped') this.instruments.restore.record(data.restoreTest.durationMs, { resource: backup.resource });
        if (data.restoreTest?.replay) this.instruments.replay.record(data.restoreTest.replay.durationMs, { resource: backup.resource });
        const replay = data.restoreTest?.replay;
        const replayed = replay ? `; WAL replayed to ${replay.restorePoint ? `restore point ${replay.restorePoint}` : 'the latest archived WAL'} (${replay.reachedLsn ?? 'not reached'}) in ${replay.durationMs} ms, ${replay.segmentsFetched} files fetched` : '';
        const log = `${data.trigger} verification of backup ${backup.backupId} (${backup.resource}): ${data.verdict}${replayed}${data.reasons.length ? ` — ${data.reasons.join(' | ')}` : ''}`;
        if (data.verdict === 'passed') this.logger.log(log);
        else this.logger.warn(log);
        await this.publish(verification.verificationId, envelope);
        return { ...verification, status: 'done' as const, verdict: data.verdict, result: data, envelope };
      } catch (error) {
        await this.store.abandon(verification.verificationId, this.me).catch(() => undefined);
        throw this.stopping.signal.aborted ? new ShutdownError() : error;
      } finally {
        release();
      }
    })();
    this.local.set(verification.verificationId, run);
    try {
      return await run;
    } finally {
      this.local.delete(verification.verificationId);
    }
  }

  private async publish(verificationId: string, envelope: Envelope) {
    await this.publisher.publishEnvelope(envelope); // the stored id: a re-publish is a duplicate JetStream drops
    await this.store.markPublished(verificationId);
  }

  /** Publishes verdicts recorded but not published (a crash or NATS outage in between). */
  async relay(): Promise<number> {
    let sent = 0;
    for (const row of await this.store.unpublished()) {
      if (this.local.has(row.verificationId)) continue;
      try {
        await this.publish(row.verificationId, row.envelope!);
        sent++;
      } catch (error) {
        this.logger.warn(`publishing the verdict of ${row.verificationId}: ${redactSecrets((error as Error).message)} (will retry)`);
        break;
      }
    }
    return sent;
  }

  /** After start: take over dead processes' manual verifications, give up their scrubs, publish what is pending. */
  async onApplicationBootstrap() {
    for (const row of await this.store.runningElsewhere(this.me)) {
      // A 'new' one comes back with its message: its owner's liveness is not even asked.
      const ownerAlive = row.trigger !== 'new' && (await this.liveness.isAlive(row.owner));
      const decision = decide({ type: 'Recover' }, { current: { ...row, ownerAlive }, running: [], backup: null });
      if (decision.kind === 'leave') continue;
      if (decision.kind === 'abandon') {
        await this.store.abandon(row.verificationId, row.owner);
        continue;
      }
      const backup = await this.store.backup(row.backupId);
      const claim = await this.store.claim(
        { verificationId: row.verificationId, backupId: row.backupId, resource: row.resource, trigger: 'manual', requestKey: `manual:${row.verificationId}`, owner: this.me },
        this.isAlive,
      );
      if (claim.kind === 'claimed' && backup && !backup.expiredAt) {
        this.logger.log(`resuming manual verification ${row.verificationId} of ${row.backupId} (its process stopped)`);
        this.inBackground(this.execute(claim.verification, backup), `manual verification of ${row.backupId}`);
      }
    }
    await this.relay().catch((error: Error) => this.logger.warn(`relay: ${redactSecrets(error.message)}`));
    // Now and then: verdicts whose publish failed, and scratch whose removal failed.
    this.relayTimer = setInterval(() => {
      void this.relay().catch((error: Error) => this.logger.warn(`relay: ${redactSecrets(error.message)}`));
      void this.scratch.sweep().catch((error: Error) => this.logger.warn(`scratch sweep: ${redactSecrets(error.message)}`));
    }, 30_000);
    this.relayTimer.unref();
  }

  /** Stop: interrupt running verifications (they clean their scratch up and are taken up again later). */
  async beforeApplicationShutdown() {
    clearInterval(this.relayTimer);
    this.stopping.abort(new ShutdownError());
    await Promise.allSettled([...this.local.values(), ...this.background]);
  }

  async onApplicationShutdown() {
    await this.readers.close();
    await this.liveness.stop();
  }
}
