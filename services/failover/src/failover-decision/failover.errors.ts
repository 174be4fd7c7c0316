import { DomainError, type RouteRecord } from '@continuity/contracts';
import type { RejectionCode } from './failover.decider.js';

/*
 * Every error the failover service may answer a caller with: a stable `code` and the HTTP status
 * it maps to. The runtime's HttpErrorFilter turns them into `{ statusCode, code, message, ...details }`.
 */

/** A resource this service does not watch. */
export class UnknownResourceError extends DomainError {
  constructor(
    readonly resource: string,
    known: string[],
  ) {
    super('FAILOVER.UNKNOWN_RESOURCE', `${resource} is not a resource this failover service watches (watched: ${known.join(', ') || 'none'})`, 404);
  }
}

export class UnknownMemberError extends DomainError {
  constructor(resource: string, member: string) {
    super('FAILOVER.UNKNOWN_MEMBER', `${member} is not a member of ${resource}`, 404);
  }
}

/** This instance does not hold the resource's lease, so it may not act. */
export class NotLeaderError extends DomainError {
  constructor(
    readonly resource: string,
    readonly leader: string | null,
  ) {
    super(
      'FAILOVER.NOT_LEADER',
      `this instance does not lead ${resource}; ${leader ? `ask the leader, ${leader}` : 'no instance holds the lease right now; retry shortly'}`,
      409,
      { leader },
    );
  }
}

/** Another leader moved the epoch while this one was deciding. */
export class EpochConflictError extends DomainError {
  constructor(
    readonly resource: string,
    expected: number,
    current: number | null,
  ) {
    super('FAILOVER.EPOCH_CONFLICT', `epoch of ${resource} moved (expected ${expected}, found ${current ?? 'none'}): another leader acted; retry`, 409);
  }
}

export class MemberNotStandbyError extends DomainError {
  constructor(resource: string, member: string, why: string) {
    super('FAILOVER.MEMBER_NOT_STANDBY', `${member} of ${resource} cannot be marked rebuilt: ${why}`, 409);
  }
}

/** The decider refused a switchover request; `code` says why (`SWITCHOVER.TARGET_NOT_ELIGIBLE`, …). */
export class SwitchoverRejectedError extends DomainError {
  constructor(code: RejectionCode, reason: string) {
    super(code, reason, 409);
  }
}

/** A switchover that was started but handed back to the old primary (nothing promoted). */
export class SwitchoverAbandonedError extends DomainError {
  constructor(
    readonly resource: string,
    readonly failoverId: string,
    reason: string,
  ) {
    super('SWITCHOVER.ABANDONED', `switchover of ${resource} abandoned, the primary is unchanged: ${reason}`, 409, { failoverId });
  }
}

/** No route record (yet): nothing is primary as far as clients are concerned. */
export class NoPrimaryError extends DomainError {
  constructor(resource: string) {
    super('FAILOVER.NO_PRIMARY', `no primary is routed for ${resource}`, 503);
  }
}

/** A load balancer's health check asked about a member that is not the routed primary. */
export class NotPrimaryError extends DomainError {
  constructor(resource: string, member: string, route: RouteRecord) {
    super('FAILOVER.NOT_PRIMARY', `${member} is not the primary of ${resource} (${route.primary} is, epoch ${route.epoch})`, 503, { route });
  }
}
