import { v7 as uuidv7 } from 'uuid';
import { DomainError, type ContinuityPublisher, type DrillKind, type DrillStepCompletedV1, type Envelope, type EventDataMap, type EventType } from '@continuity/contracts';
import type { BackupConfig, ResolvedDrill } from '../config/backup-config.loader.js';
import type { LoggerLike } from '../backup-run/backup-runner.js';
import { judgeDrill, judgeStep, MeasuredStep, stepsOf } from './drill.decider.js';
import type { DrillStore, DrillView } from './drill-store.js';
import { FailoverStepDeps, runFailoverStep } from './failover-step.js';
import { RestoreStepDeps, runRestoreStep } from './restore-step.js';
import { removeScratch } from './scratch-target.js';
import { redactSecrets } from '@continuity/runtime/standalone';

export class DrillNotConfiguredError extends DomainError {
  constructor(resource: string, configured: string[]) {
    super('DRILL.UNKNOWN_RESOURCE', `${resource} has no drill configuration (drills: in the backup configuration; configured: ${configured.join(', ') || 'none'})`, 404, { resource });
  }
}

export class DrillKindNotApplicableError extends DomainError {
  constructor(resource: string, kind: DrillKind, why: string) {
    super('DRILL.KIND_NOT_APPLICABLE', `a ${kind} drill of ${resource} cannot run: ${why}`, 400, { resource, kind });
  }
}

export interface DrillRequest {
  kind?: DrillKind;
  trigger: 'api' | 'cli' | 'schedule';
  requestedBy: string | null;
  scheduleSlot?: Date | null;
}

export interface DrillCoordinatorDeps {
  config: Pick<BackupConfig, 'drills' | 'resources'>;
  store: Pick<DrillStore, 'begin' | 'save' | 'runningDrills'>;
  publisher: Pick<ContinuityPublisher, 'build'>;
  /** Queues an event in the catalogue's outbox (published with the next flush). */
  queue: (event: Envelope) => Promise<void>;
  flush: () => Promise<unknown>;
  restoreStep: RestoreStepDeps;
  /** Null where no NATS connection is at hand: failover and full drills are then refused. */
  failoverStep: Omit<FailoverStepDeps, 'request'> | null;
  logger: LoggerLike;
}

/**
 * The drill saga's coordinator (in the backup service, which owns restores and scratch targets):
 * `DrillStarted`, each step run and recorded as `DrillStepCompleted` (the failover step through
 * the failover service, by `DrillStepRequested` / `FailoverRehearsed`), then `DrillCompleted` with
 * the verdict of the pure decider. Every event leaves through the catalogue's outbox, so a NATS
 * outage delays them, never loses them. A step that fails ends the drill there: later steps do not
 * run (a restore after a failed switchover would measure nothing the drill promised).
 */
export class DrillCoordinator {
  constructor(private readonly deps: DrillCoordinatorDeps) {}

  /** The drill configuration of `resource`, and the kind a request runs; refuses what cannot run. */
  plan(resource: string, kind?: DrillKind): { drill: ResolvedDrill; kind: DrillKind } {
    const drill = this.deps.config.drills.get(resource);
    if (!drill) throw new DrillNotConfiguredError(resource, [...this.deps.config.drills.keys()]);
    const chosen = kind ?? drill.kind;
    if (chosen !== 'restore') {
      if (this.deps.config.resources.get(resource)?.kind !== 'postgres') throw new DrillKindNotApplicableError(resource, chosen, 'only a replicated PostgreSQL resource fails over');
      if (!this.deps.failoverStep) throw new DrillKindNotApplicableError(resource, chosen, 'this process has no NATS connection to ask the failover service');
    }
    return { drill, kind: chosen };
  }

  /** Starts a drill; returns its first view at once and `done` when it has ended (never rejects). */
  async start(resource: string, request: DrillRequest): Promise<{ view: DrillView; done: Promise<DrillView> }> {
    const { drill, kind } = this.plan(resource, request.kind);
    const drillId = uuidv7();
    const startedAt = new Date();
    const started = this.deps.publisher.build('DrillStarted', {
      resource,
      occurredAt: startedAt,
      data: {
        drillId,
        kind,
        steps: stepsOf(kind),
        targets: drill.targets,
        trigger: request.trigger,
        requestedBy: request.requestedBy,
        startedAt: startedAt.toISOString(),
        scheduleSlot: request.scheduleSlot?.toISOString() ?? null,
        stepTimeoutMs: drill.stepTimeoutMs,
        failoverStandby: kind === 'restore' ? null : (drill.failover?.standby ?? null),
      },
    });
    const view: DrillView = { drillId, resource, kind, state: 'running', started: started.data, steps: [], completed: null };
    await this.deps.store.begin(view);
    await this.emit(started);
    const done = this.run(drill, view, started, request).catch((error: Error) => {
      this.deps.logger.error(`drill ${drillId} of ${resource}: ${error.message}`);
      return view;
    });
    return { view, done };
  }

  private async run(drill: ResolvedDrill, view: DrillView, started: Envelope, request: DrillRequest): Promise<DrillView> {
    const startedAt = new Date(view.started.startedAt);
    const caused = { correlationId: started.correlationId, causationId: started.id };
    for (const step of view.started.steps) {
      const onScratch = async (to: string) => {
        view.scratchInUse = to;
        await this.deps.store.save(view);
      };
      const measured = step === 'restore' ? await this.restore(drill, view.drillId, startedAt, request.requestedBy, onScratch) : await this.failover(drill, view.drillId, caused);
      view.scratchInUse = null;
      const verdict = judgeStep(measured, drill.targets);
      const data: DrillStepCompletedV1 = {
        drillId: view.drillId,
        step,
        outcome: verdict.outcome,
        startedAt: measured.startedAt.toISOString(),
        finishedAt: measured.finishedAt.toISOString(),
        durationMs: Math.max(0, measured.finishedAt.getTime() - measured.startedAt.getTime()),
        rtoMs: measured.rtoMs,
        rpoMs: measured.rpoMs,
        dataLostBytes: 'dataLostBytes' in measured ? (measured.dataLostBytes as number | null) : null,
        backupId: 'backupId' in measured ? (measured.backupId as string | null) : null,
        recoveryPoint: 'recoveryPoint' in measured ? (measured.recoveryPoint as string | null) : null,
        scratchTarget: 'scratchTarget' in measured ? (measured.scratchTarget as string | null) : null,
        scratchRemoved: 'scratchRemoved' in measured ? (measured.scratchRemoved as boolean | null) : null,
        standby: 'standby' in measured ? (measured.standby as string | null) : null,
        checks: measured.checks.slice(0, 100),
        reason: verdict.reason?.slice(0, 4_000) ?? null,
      };
      view.steps.push(data);
      await this.emit(this.deps.publisher.build('DrillStepCompleted', { resource: view.resource, occurredAt: measured.finishedAt, data, ...caused }));
      await this.deps.store.save(view);
      if (verdict.outcome === 'failed') break;
    }
    const completed = judgeDrill({ drillId: view.drillId, kind: view.kind, targets: drill.targets, startedAt }, view.steps, new Date());
    if (completed.reason) completed.reason = completed.reason.slice(0, 4_000);
    view.completed = completed;
    view.state = completed.outcome;
    await this.emit(this.deps.publisher.build('DrillCompleted', { resource: view.resource, occurredAt: completed.finishedAt, data: completed, ...caused }));
    await this.deps.store.save(view);
    this.deps.logger.log(`drill ${view.drillId} of ${view.resource} (${view.kind}) ${completed.outcome}${completed.reason ? `: ${completed.reason}` : ''}`);
    return view;
  }

  private restore(drill: ResolvedDrill, drillId: string, drillStartedAt: Date, requestedBy: string | null, onScratch: (to: string) => Promise<void>): Promise<MeasuredStep> {
    return runRestoreStep(this.deps.restoreStep, drill, { drillId, drillStartedAt, requestedBy, onScratch }).catch((error: Error) => crashed('restore', error));
  }

  /**
   * Ends drills whose coordinating process died (still `running` long after every step's deadline
   * could have passed: twice the steps' timeouts, plus a minute): drops the scratch target the step
   * under way had made, then records them failed with `DrillCompleted`, so a dead process's drill
   * neither looks complete nor blocks the resource for ever. Returns the drills it ended.
   */
  async recoverAbandoned(now: Date): Promise<string[]> {
    const ended: string[] = [];
    for (const view of await this.deps.store.runningDrills()) {
      const allowedMs = 2 * view.started.steps.length * view.started.stepTimeoutMs + 60_000;
      if (now.getTime() - Date.parse(view.started.startedAt) < allowedMs) continue;
      let cleanup = 'nothing to clean up';
      if (view.scratchInUse) {
        const removed = await removeScratch(view.scratchInUse);
        cleanup = removed ? `its scratch target ${redactSecrets(view.scratchInUse)} was dropped` : `its scratch target ${redactSecrets(view.scratchInUse)} could not be dropped: drop it by hand`;
      }
      const plan = { drillId: view.drillId, kind: view.kind, targets: view.started.targets, startedAt: new Date(view.started.startedAt) };
      const completed = judgeDrill(plan, view.steps, now);
      const pending = view.started.steps.find((s) => !view.steps.some((done) => done.step === s)) ?? completed.failedStep;
      Object.assign(completed, {
        outcome: 'failed',
        failedStep: completed.failedStep ?? pending,
        reason: `the process coordinating the drill stopped before it ended (${pending ?? 'a'} step never reported); ${cleanup}`.slice(0, 4_000),
        recoveredMs: null,
      });
      view.completed = completed;
      view.state = 'failed';
      view.scratchInUse = null;
      const event = this.deps.publisher.build('DrillCompleted', { resource: view.resource, occurredAt: now, data: completed });
      await this.emit(event);
      await this.deps.store.save(view);
      this.deps.logger.warn(`drill ${view.drillId} of ${view.resource} abandoned: ${completed.reason}`);
      ended.push(view.drillId);
    }
    return ended;
  }

  private failover(drill: ResolvedDrill, drillId: string, caused: { correlationId: string; causationId: string }): Promise<MeasuredStep> {
    const deps = this.deps.failoverStep!;
    return runFailoverStep(
      {
        ...deps,
        request: async (resource, data) => {
          const event = this.deps.publisher.build('DrillStepRequested', { resource, data, ...caused });
          await this.emit(event);
          return event;
        },
      },
      drill,
      drillId,
    ).catch((error: Error) => crashed('failover', error));
  }

  private async emit<T extends EventType>(event: Envelope<T, EventDataMap[T]>): Promise<void> {
    await this.deps.queue(event);
    await this.deps.flush();
  }
}

const crashed = (step: MeasuredStep['step'], error: Error): MeasuredStep => ({
  step,
  startedAt: new Date(),
  finishedAt: new Date(),
  rtoMs: null,
  rpoMs: null,
  error: `${step} step could not run: ${error.message}`,
  checks: [],
});
