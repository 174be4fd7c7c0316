import { causedBy, type ContinuityEvent, type FailoverObservation, type FenceCommandOutcome } from '@continuity/contracts';
import type { Observation } from '../probing/observation.js';
import type { Candidate } from './failover.decider.js';
import type { SetSynchronousStandby } from './synchronous-standby.decider.js';
import type { FailoverState, RecordedObservation } from './failover.state.js';
import type { CompletedFailover, EventRef, FailoverAttempt, SupervisorDeps } from './failover-attempt.js';
import { iso, keepFailedPrimaryProbes, observationsBehind } from './observations.js';

/** What FailoverTriggered says about one decision (no-candidate, failover or switchover). */
export interface Trigger {
  failoverId: string;
  from: string;
  to: string | null;
  planned: boolean;
  reason: string;
  firstFailureAt: number | null;
  detectedAt: number;
  epoch: number;
  candidates: readonly Candidate[];
  primaryLsn: string | null;
  /** The failed primary's fence command, when one ran (or an earlier attempt's was reused) before this promotion. */
  fence: FenceCommandOutcome | null;
}

/**
 * Builds and publishes one resource's FailoverTriggered, FailoverAbandoned, FailoverCompleted,
 * ResourceDegraded and SynchronousReplicationChanged events, chained by causation: each failover's later events are caused by its
 * FailoverTriggered, and a ResourceDegraded by the latest failover event. Keeps what
 * FailoverTriggered reports beyond the decision itself: the primary's failed probes of the
 * current outage and when it was last seen healthy.
 *
 * Delivery guarantees: none beyond the publisher's. A failover goes on when its events cannot be
 * published (restoring service matters more than the record of it); the log says so.
 * ResourceDegraded is the exception: `degraded` answers false, and the fence is decided again.
 */
export class FailoverAnnouncer {
  /** The latest probe that found the member then primary healthy. */
  private lastHealthyPrimary: { member: string; at: number } | null = null;
  /** The primary's consecutive failed probes in the current outage (published with the decision). */
  private failedPrimaryProbes: RecordedObservation[] = [];
  /** The latest failover's events, so a ResourceDegraded that follows it joins its chain. */
  private lastFailoverEvent: EventRef | null = null;

  constructor(private readonly deps: SupervisorDeps) {}

  private get resource() {
    return this.deps.settings.resource;
  }

  /** Notes a probe just folded into `state` (`folded`: as recorded, or null when the fold ignored it as out of date). */
  observed(state: FailoverState, folded: RecordedObservation | null, observation: Observation): void {
    this.failedPrimaryProbes = keepFailedPrimaryProbes(this.failedPrimaryProbes, state, folded);
    if (observation.member === state.primary && observation.reachable && observation.inRecovery === false) {
      this.lastHealthyPrimary = { member: observation.member, at: typeof observation.at === 'number' ? observation.at : observation.at.getTime() };
    }
  }

  /**
   * FailoverTriggered (its event id is the failover id): the decision with what it rested on —
   * the observations (the primary's failed probes of this outage, every other member's latest),
   * this instance as the decider, when the primary was last seen healthy, its last known LSN.
   */
  async triggered(state: FailoverState, t: Trigger): Promise<EventRef | null> {
    const observations: FailoverObservation[] = observationsBehind(
      state,
      this.deps.settings.members.map((m) => m.name),
      t.from,
      this.failedPrimaryProbes,
    );
    try {
      const { event } = await this.deps.publisher.publish('FailoverTriggered', {
        resource: this.resource,
        id: t.failoverId,
        data: {
          failoverId: t.failoverId,
          fromInstance: t.from,
          toInstance: t.to,
          planned: t.planned,
          reason: t.reason,
          firstFailureAt: iso(t.firstFailureAt),
          detectedAt: iso(t.detectedAt)!,
          epoch: t.epoch,
          candidates: [...t.candidates],
          observations,
          decidedBy: this.deps.instanceId,
          // Of the primary being replaced, not of one before it (the route may have moved since).
          lastHealthyAt: this.lastHealthyPrimary?.member === t.from ? iso(this.lastHealthyPrimary.at) : null,
          primaryLsn: t.primaryLsn,
          fence: t.fence,
        },
      });
      this.lastFailoverEvent = event;
      return event;
    } catch (error) {
      // The failover goes on: restoring service matters more than the record of it (the log says so).
      this.deps.logger.error(`${this.resource}: FailoverTriggered not published: ${(error as Error).message}`);
      return null;
    }
  }

  /** FailoverAbandoned, caused by the attempt's FailoverTriggered. */
  async abandoned(attempt: FailoverAttempt, reason: string, at: number): Promise<void> {
    try {
      await this.deps.publisher.publish('FailoverAbandoned', {
        resource: this.resource,
        data: { failoverId: attempt.failoverId, fromInstance: attempt.from, toInstance: attempt.to, epoch: attempt.epoch, planned: attempt.planned, reason, at: iso(at)! },
        ...(attempt.triggered ? causedBy(attempt.triggered) : {}),
      });
    } catch (error) {
      this.deps.logger.error(`${this.resource}: FailoverAbandoned not published: ${(error as Error).message}`);
    }
  }

  /** FailoverCompleted, caused by the attempt's FailoverTriggered. */
  async completed(attempt: FailoverAttempt, completed: CompletedFailover): Promise<void> {
    try {
      const event = await this.deps.publisher.publish('FailoverCompleted', {
        resource: this.resource,
        data: {
          failoverId: completed.failoverId,
          newPrimary: completed.to,
          epoch: completed.epoch,
          rtoMs: completed.rtoMs,
          replicationLagBytes: completed.replicationLagBytes,
          timeline: completed.timeline,
          planned: completed.planned,
          fromInstance: completed.from,
          decidedBy: attempt.decidedBy,
        },
        ...(attempt.triggered ? causedBy(attempt.triggered) : {}),
      });
      this.lastFailoverEvent = event.event;
    } catch (error) {
      this.deps.logger.error(`${this.resource}: FailoverCompleted not published: ${(error as Error).message}`);
    }
  }

  /** SynchronousReplicationChanged: which standby the primary's commits now wait for, or none (relaxed). */
  async synchronousChanged(decision: SetSynchronousStandby): Promise<void> {
    try {
      await this.deps.publisher.publish('SynchronousReplicationChanged', {
        resource: this.resource,
        data: {
          primary: decision.primary,
          mode: decision.standby === null ? 'relaxed' : 'synchronous',
          synchronousStandby: decision.standby,
          previousStandby: decision.previous,
          setting: decision.setting,
          epoch: decision.epoch,
          reason: decision.reason,
          standbys: [...decision.standbys],
        },
        ...(this.lastFailoverEvent ? causedBy(this.lastFailoverEvent) : {}),
      });
    } catch (error) {
      this.deps.logger.error(`${this.resource}: SynchronousReplicationChanged not published: ${(error as Error).message}`);
    }
  }

  /** ResourceDegraded, in the chain of the latest failover; false (and logged) when it could not be published. */
  async degraded(data: ContinuityEvent<'ResourceDegraded'>['data']): Promise<boolean> {
    try {
      await this.deps.publisher.publish('ResourceDegraded', {
        resource: this.resource,
        data,
        ...(this.lastFailoverEvent ? causedBy(this.lastFailoverEvent) : {}),
      });
      return true;
    } catch (error) {
      this.deps.logger.error(`${this.resource}: ResourceDegraded not published (will retry): ${(error as Error).message}`);
      return false;
    }
  }
}
