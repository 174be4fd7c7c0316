import type { ContinuityEvent, ContinuityPublisher, FailoverCompletedV2 } from '@continuity/contracts';
import type { ResourceFailover } from '../config/failover-config.loader.js';
import type { FailoverStore } from '../coordination/failover-store.js';

/*
 * What the supervisor of one resource and its actions (promotion, switchover, fencing, the
 * announcer) pass between them.
 */

export interface SupervisorLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug?(message: string): void;
}

export interface SupervisorDeps {
  readonly settings: ResourceFailover;
  readonly store: FailoverStore;
  readonly publisher: ContinuityPublisher;
  readonly instanceId: string;
  readonly logger: SupervisorLogger;
  /** Told of every completed failover or switchover (metrics). */
  readonly onCompleted?: (resource: string, completed: CompletedFailover) => void;
}

export interface CompletedFailover {
  failoverId: string;
  epoch: number;
  from: string;
  to: string;
  planned: boolean;
  rtoMs: number;
  replicationLagBytes: number | null;
  timeline: FailoverCompletedV2['timeline'];
}

export type EventRef = Pick<ContinuityEvent, 'id' | 'correlationId'>;

/** One failover or switchover under way: what its events (FailoverAbandoned, FailoverCompleted) say it was. */
export interface FailoverAttempt {
  failoverId: string;
  epoch: number;
  from: string;
  to: string;
  planned: boolean;
  /** The instance that took the epoch. */
  decidedBy: string;
  /** Its FailoverTriggered, when published: the cause of what follows. */
  triggered: EventRef | null;
}
