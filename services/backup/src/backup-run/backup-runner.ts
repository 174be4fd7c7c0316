import { hostname } from 'node:os';
import { context } from '@opentelemetry/api';
import { v7 as uuidv7 } from 'uuid';
import type { ContinuityPublisher, Envelope } from '@continuity/contracts';
import { redactSecrets } from '@continuity/runtime/standalone';
import { BackupConfig, policyForResource, ResolvedPolicy } from '../config/backup-config.loader.js';
import { ARTIFACT_EXTENSIONS, buildManifest, type ArtifactKey } from '@continuity/artifacts';
import {
  backupCreatedData,
  backupFailedData,
  Cleanup,
  FailureStage,
  handle,
  initialState,
  RunCommand,
  RunPlan,
  RunState,
} from './backup-run.decider.js';
import { BackupAlreadyRunningError, UnknownResourceError } from './backup-run.errors.js';
import type { CopyWriter } from './locations/location.js';
import { LocationError } from './locations/location.js';
import { LocationRegistry } from './locations/location.registry.js';
import { streamToCopies } from './one-pass.js';
import type { RunCatalogue } from './run-catalogue.port.js';
import { RunTrace } from './run-trace.js';
import { startBaseBackupSource } from './sources/basebackup.source.js';
import { startDirectorySource } from './sources/directory.source.js';
import { startPostgresSource } from './sources/postgres.source.js';
import type { SourceRun } from './sources/source.js';

export interface LoggerLike {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface RunProgress {
  backupId: string;
  resource: string;
  bytesDone: number;
  bytesExpected: number | null;
}

export type RunOutcome =
  | { state: 'created'; backupId: string; resource: string; sizeBytes: number; sha256: string; copies: { location: string; uri: string }[]; event: Envelope }
  | { state: 'failed'; backupId: string; resource: string; stage: FailureStage; reason: string; event: Envelope };

export interface StartOptions {
  trigger: 'schedule' | 'api' | 'cli' | 'test' | 'wal-gap';
  /**
   * A base backup whatever the policy's method (a PostgreSQL resource only): after a gap in the WAL
   * archive, the recoverable window must start again at a physical backup.
   */
  method?: 'basebackup';
  correlationId?: string;
  causationId?: string | null;
  onProgress?: (progress: RunProgress) => void;
}

export interface BackupRunnerDeps {
  config: BackupConfig;
  locations: LocationRegistry;
  catalogue: RunCatalogue;
  publisher: ContinuityPublisher;
  now?: () => Date;
  logger?: LoggerLike;
  /** Called after a backup was created (retention runs here). */
  afterCreated?: (policy: ResolvedPolicy, outcome: Extract<RunOutcome, { state: 'created' }>) => Promise<void>;
  /** Heartbeat/progress writes to the catalogue, at most this often. */
  progressEveryMs?: number;
}

/** An error with the stage (and location) where a run failed. */
class StageError extends Error {
  constructor(
    readonly stage: FailureStage,
    readonly location: string | null,
    cause: unknown,
  ) {
    // The message becomes BackupFailed's reason, the catalogue's error and a log line: a tool or
    // a location quoting its URL must not carry a password into any of them.
    super(redactSecrets(cause instanceof Error ? cause.message : String(cause)), { cause });
  }
}
const atStage = (stage: FailureStage, location: string | null = null) => (error: unknown): never => {
  if (error instanceof StageError) throw error;
  throw new StageError(error instanceof LocationError ? (stage === 'source' ? 'copy' : stage) : stage, error instanceof LocationError ? error.location : location, error);
};

/** The source of the policy's method: a dump, a base backup or a directory's tar. */
const startSource = (policy: ResolvedPolicy, backupId: string): Promise<SourceRun> => {
  const resource = policy.resource;
  if (resource.kind === 'directory') return startDirectorySource(resource);
  return policy.method === 'basebackup' ? startBaseBackupSource(resource, backupId, policy.compression) : startPostgresSource(resource);
};

const silent: LoggerLike = { log: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * Runs backups: one read pass of the source, streamed through SHA-256 into every copy of the
 * policy at once; copies committed only when all are durable; then, through the catalogue's
 * outbox, exactly one of BackupCreated or BackupFailed.
 */
export class BackupRunner {
  private readonly active = new Map<string, RunProgress>();
  private readonly now: () => Date;
  private readonly logger: LoggerLike;
  readonly owner = `${hostname()}:${process.pid}`;

  constructor(private readonly deps: BackupRunnerDeps) {
    this.now = deps.now ?? (() => new Date());
    this.logger = deps.logger ?? silent;
  }

  get config() {
    return this.deps.config;
  }

  progressOf(backupId: string): RunProgress | null {
    return this.active.get(backupId) ?? null;
  }

  isRunning(backupId: string) {
    return this.active.has(backupId);
  }

  /**
   * Starts a backup of `resource` and returns its id at once; `done` settles when it ended
   * (created or failed: it never rejects for a backup failure). Throws `UnknownResourceError` or
   * `BackupAlreadyRunningError` before anything starts.
   */
  async start(resource: string, options: StartOptions): Promise<{ backupId: string; done: Promise<RunOutcome> }> {
    let policy = policyForResource(this.deps.config, resource);
    if (!policy) {
      const known = [...this.deps.config.policies.values()].map((p) => p.resourceName);
      throw new UnknownResourceError(
        this.deps.config.resources.has(resource)
          ? `resource "${resource}" has no backup policy in ${this.deps.config.file}`
          : `unknown resource "${resource}" (protected: ${known.join(', ') || 'none; set CONTINUITY_CONFIG'})`,
      );
    }
    if (options.method && options.method !== policy.method) {
      if (policy.resource.kind !== 'postgres') throw new UnknownResourceError(`resource "${resource}" is not PostgreSQL: it has no ${options.method}`);
      policy = { ...policy, method: options.method };
    }
    for (const run of this.active.values()) if (run.resource === resource) throw new BackupAlreadyRunningError(resource, run.backupId);
    const startedAt = this.now().toISOString();
    const plan: RunPlan = {
      backupId: uuidv7(),
      resource,
      policy: policy.name,
      resourceKind: policy.resource.kind,
      method: policy.method,
      startedAt,
      // The source is opened after this instant: the backup holds at least everything committed before it.
      recoveryPoint: startedAt,
      copies: policy.copies.map((c) => ({ location: c.name, site: c.location.site, medium: c.location.medium })),
      encryption: policy.encryption ? { format: 'age', recipients: policy.encryption.recipients } : null,
      threeTwoOne: {
        compliant: policy.threeTwoOneFailures.length === 0,
        resourceSite: policy.resource.site,
        failedRules: policy.threeTwoOneFailures.map((f) => f.rule),
        optOut: policy.threeTwoOneOptOut,
      },
    };
    const key: ArtifactKey = { resource, backupId: plan.backupId, extension: `${ARTIFACT_EXTENSIONS[policy.method]}${policy.encryption ? '.age' : ''}` };
    const progress: RunProgress = { backupId: plan.backupId, resource, bytesDone: 0, bytesExpected: null };
    this.active.set(plan.backupId, progress);
    const runTrace = new RunTrace({ backupId: plan.backupId, resource, policy: policy.name, method: policy.method, trigger: options.trigger });
    try {
      await context.with(runTrace.context, () =>
        this.deps.catalogue.start(plan, { trigger: options.trigger, owner: this.owner, bytesExpected: null, extension: key.extension }),
      );
    } catch (error) {
      this.active.delete(plan.backupId);
      runTrace.ended({ state: 'failed', stage: 'catalogue', reason: (error as Error).message });
      throw error;
    }
    // Logged inside the run's span: the line carries the run's trace id.
    context.with(runTrace.context, () =>
      this.logger.log(`backup ${plan.backupId} of ${resource} started (policy ${policy.name}, ${options.trigger}) to ${plan.copies.map((c) => c.location).join(', ')}`),
    );
    const done = context
      .with(runTrace.context, () => this.execute(plan, policy, key, progress, options, runTrace))
      .then((outcome) => (runTrace.ended(outcome), outcome), (error: unknown) => {
        runTrace.ended({ state: 'failed', stage: 'run', reason: (error as Error)?.message ?? String(error) });
        throw error;
      })
      .finally(() => this.active.delete(plan.backupId));
    done.catch(() => undefined);
    return { backupId: plan.backupId, done };
  }

  private async execute(plan: RunPlan, policy: ResolvedPolicy, key: ArtifactKey, progress: RunProgress, options: StartOptions, runTrace: RunTrace): Promise<RunOutcome> {
    let state: RunState = initialState();
    const apply = (command: RunCommand) => {
      state = handle(state, command).state;
    };
    apply({ type: 'StartBackup', plan });
    const chain = { correlationId: options.correlationId, causationId: options.causationId ?? null };
    let source: SourceRun | null = null;
    const writers: CopyWriter[] = [];
    let lastWrite = 0;
    let writing: Promise<void> | null = null;
    const report = (force = false) => {
      options.onProgress?.({ ...progress });
      const at = Date.now();
      if (writing || (!force && at - lastWrite < (this.deps.progressEveryMs ?? 1_000))) return;
      lastWrite = at;
      writing = this.deps.catalogue
        .progress(plan.backupId, progress.bytesDone, progress.bytesExpected)
        .catch((error: Error) => this.logger.warn(`progress of ${plan.backupId}: ${error.message}`))
        .finally(() => (writing = null));
    };
    // A heartbeat even when no bytes flow (pg_dump waiting for a lock): only a dead process goes stale.
    const heartbeat = setInterval(() => report(true), 15_000);
    heartbeat.unref();
    try {
      runTrace.sourceStarted(policy.resource.kind === 'directory' ? 'directory' : policy.method);
      source = await startSource(policy, plan.backupId).catch(atStage('source'));
      progress.bytesExpected = source.expectedBytes;
      report(true);
      policy.copies.forEach((c) => runTrace.copyStarted(c.name));
      const begun = await Promise.allSettled(policy.copies.map((c) => this.deps.locations.get(c.name).begin(key)));
      begun.forEach((b) => b.status === 'fulfilled' && writers.push(b.value));
      const refused = begun.findIndex((b) => b.status === 'rejected');
      if (refused >= 0) atStage('copy', policy.copies[refused]!.name)((begun[refused] as PromiseRejectedResult).reason);

      const digests = await streamToCopies({
        source: source.stream,
        observe: source.observe,
        encryption: policy.encryption,
        writers,
        onProgress: (bytesDone) => {
          progress.bytesDone = bytesDone;
          apply({ type: 'RecordProgress', bytesDone });
          report();
        },
      }).catch(atStage('source'));
      // Every byte is in: the copies are made durable while the source finishes (pg_dump exits, the
      // counting session commits and closes). A failed source still fails the run, before any copy.
      const [sourceDone, copiesDone] = await Promise.allSettled([
        source.done().catch(atStage('source')),
        Promise.all(writers.map((w) => w.finish(digests.stored).catch(atStage('copy', w.location)))),
      ]);
      if (sourceDone.status === 'rejected') throw sourceDone.reason;
      runTrace.sourceEnded(digests.plaintext.sizeBytes);
      const index = source.index();
      apply({ type: 'CompleteSource', stored: digests.stored, plaintext: digests.plaintext, basebackup: index.basebackup ?? null });
      if (copiesDone.status === 'rejected') throw copiesDone.reason;

      const finishedAt = this.now().toISOString();
      const manifest = buildManifest(plan, {
        finishedAt,
        stored: digests.stored,
        plaintext: digests.plaintext,
        tools: { node: process.versions.node, ...source.tools },
        copies: writers.map((w) => {
          const placement = plan.copies.find((c) => c.location === w.location)!;
          return { ...placement, uri: w.uri };
        }),
        files: index.files,
        skipped: index.skipped,
        tables: index.tables ?? null,
        tablesNotRecorded: index.tablesNotRecorded ?? null,
        compression: index.compression ?? null,
        basebackup: index.basebackup ?? null,
      });
      const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`);
      // All copies commit at once (their renames and fsyncs overlap); recorded in the policy's order.
      // One failing fails the run, and the abort removes the others, committed or not.
      const commits = await Promise.allSettled(writers.map((w) => w.commit(manifestBytes)));
      writers.forEach((writer, i) => {
        const commit = commits[i]!;
        if (commit.status === 'rejected') atStage('finalize', writer.location)(commit.reason);
        runTrace.copyEnded(writer.location);
        apply({ type: 'CommitCopy', location: writer.location, uri: writer.uri, manifestUri: writer.manifestUri, sha256: digests.stored.sha256, sizeBytes: digests.stored.sizeBytes });
      });
      apply({ type: 'CompleteRun', at: finishedAt });
      if (state.status !== 'created') throw new StageError('finalize', null, new Error(`run ended ${state.status}`));
      const created = state;
      const event = this.deps.publisher.build('BackupCreated', { resource: plan.resource, data: backupCreatedData(created), ...chain });
      await writing;
      await this.deps.catalogue
        .created(plan.backupId, { finishedAt, stored: digests.stored, plaintext: digests.plaintext, copies: created.committed, bytesDone: progress.bytesDone }, event)
        .catch(atStage('finalize'));
      clearInterval(heartbeat);
      this.active.delete(plan.backupId); // the catalogue says created: a new run of the resource may start
      this.logger.log(`backup ${plan.backupId} of ${plan.resource} created: ${digests.stored.sizeBytes} bytes, sha256 ${digests.stored.sha256}, ${writers.length} copies`);
      await runTrace.publishing(() => this.flushOutbox());
      const outcome: RunOutcome = {
        state: 'created',
        backupId: plan.backupId,
        resource: plan.resource,
        sizeBytes: digests.stored.sizeBytes,
        sha256: digests.stored.sha256,
        copies: created.committed.map((c) => ({ location: c.location, uri: c.uri })),
        event,
      };
      await this.deps.afterCreated?.(policy, outcome).catch((error: Error) => this.logger.warn(`retention after ${plan.backupId}: ${error.message}`));
      return outcome;
    } catch (thrown) {
      const error = thrown instanceof StageError ? thrown : new StageError('source', null, thrown);
      clearInterval(heartbeat);
      source?.cancel();
      apply({ type: 'FailRun', failure: { stage: error.stage, reason: error.message, location: error.location } });
      // Every copy begun is removed, committed or not: no partial copy may look complete.
      const cleanedUp: Cleanup[] = (await Promise.all(writers.map((w) => w.abort(error)))).map((c) => ({ ...c, error: c.error === null ? null : redactSecrets(c.error) }));
      apply({ type: 'RecordCleanup', cleanedUp, at: this.now().toISOString() });
      if (state.status !== 'failed') throw new Error(`backup ${plan.backupId}: run ended ${state.status} after a failure`);
      const failed = state;
      const event = this.deps.publisher.build('BackupFailed', { resource: plan.resource, data: backupFailedData(failed), ...chain });
      this.logger.error(`backup ${plan.backupId} of ${plan.resource} failed at ${error.stage}: ${error.message}`);
      await writing;
      try {
        await this.deps.catalogue.failed(
          plan.backupId,
          { finishedAt: failed.finishedAt, error: { ...failed.failure, cleanedUp }, bytesDone: progress.bytesDone },
          event,
        );
        this.active.delete(plan.backupId);
        await runTrace.publishing(() => this.flushOutbox());
      } catch (recordError) {
        // The catalogue is unreachable: the stale-run sweep records the failure later.
        this.logger.error(`backup ${plan.backupId}: cannot record the failure: ${(recordError as Error).message}`);
      }
      return { state: 'failed', backupId: plan.backupId, resource: plan.resource, stage: error.stage, reason: error.message, event };
    }
  }

  /** Publishes what the outbox holds; a failure is logged and retried on the next flush. */
  async flushOutbox(): Promise<number> {
    try {
      return await this.deps.catalogue.flushOutbox((event) => this.deps.publisher.publishEnvelope(event));
    } catch (error) {
      this.logger.warn(`publishing queued events: ${(error as Error).message} (will retry)`);
      return 0;
    }
  }

  /**
   * Runs whose process died (no heartbeat for `olderThanMs`): remove whatever they left in every
   * planned location and record them failed with a BackupFailed, so the resource is not blocked.
   */
  async recoverAbandoned(olderThanMs = 120_000): Promise<string[]> {
    const recovered: string[] = [];
    for (const record of await this.deps.catalogue.stale(olderThanMs)) {
      if (this.active.has(record.backupId)) continue;
      const key: ArtifactKey = { resource: record.resource, backupId: record.backupId, extension: record.artifactExtension };
      const cleanedUp: Cleanup[] = [];
      for (const copy of record.plannedCopies) {
        try {
          const location = this.deps.locations.get(copy.location);
          const removed = await location.remove(key);
          if ('sweepPartials' in location) await (location as { sweepPartials(f: (id: string) => boolean): Promise<string[]> }).sweepPartials((id) => this.active.has(id));
          cleanedUp.push({ location: copy.location, uri: location.uriOf(key), removed: removed.deleted, error: removed.error === null ? null : redactSecrets(removed.error) });
        } catch (error) {
          cleanedUp.push({ location: copy.location, uri: copy.location, removed: false, error: redactSecrets((error as Error).message) });
        }
      }
      const reason = `abandoned: the process running it stopped (no progress since ${record.startedAt > record.recoveryPoint ? record.startedAt : record.recoveryPoint})`;
      const event = this.deps.publisher.build('BackupFailed', {
        resource: record.resource,
        data: {
          backupId: record.backupId,
          resourceKind: record.resourceKind as 'postgres' | 'directory',
          method: record.method,
          stage: 'source',
          reason,
          location: null,
          cleanedUp,
        },
      });
      await this.deps.catalogue.failed(record.backupId, { finishedAt: this.now().toISOString(), error: { stage: 'source', reason, location: null, cleanedUp }, bytesDone: record.bytesDone }, event);
      recovered.push(record.backupId);
      this.logger.warn(`backup ${record.backupId} of ${record.resource} was abandoned by its process: recorded as failed`);
    }
    if (recovered.length) await this.flushOutbox();
    return recovered;
  }
}
