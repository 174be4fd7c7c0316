import { DomainError } from '@continuity/contracts';
import { redactSecrets } from '@continuity/runtime/standalone';

/** A restore that could not be done; `code` says why (`RESTORE.NO_HEALTHY_COPY`, `RESTORE.TARGET_NOT_EMPTY`, …). */
export class RestoreError extends DomainError {
  constructor(code: string, message: string, options?: { cause?: unknown; status?: number; details?: Record<string, unknown> }) {
    // Messages quote targets, tools and locations: they reach HTTP bodies, events and logs without passwords.
    super(code, redactSecrets(message), options?.status ?? 500, options?.details ?? {}, options);
  }
}

/**
 * The target is not among the resource's `restoreTargets` (403), said before anything is read or
 * written; names the resource and what is allowed.
 */
export class RestoreTargetNotAllowedError extends RestoreError {
  constructor(resource: string, target: string, allowed: readonly string[], why: string | null) {
    super(
      'RESTORE.TARGET_NOT_ALLOWED',
      allowed.length
        ? `restoring ${resource} to ${target} is not allowed${why ? ` (${why})` : ''}: its restoreTargets are ${allowed.join(', ')}`
        : `restoring ${resource} to ${target} is not allowed: ${resource} lists no restoreTargets in the configuration`,
      { status: 403, details: { resource, allowedTargets: allowed } },
    );
  }
}

/** No restore job with this id (404): jobs are kept in memory, so a restart forgets them. */
export class RestoreNotFoundError extends DomainError {
  constructor(restoreId: string) {
    super('RESTORE.NOT_FOUND', `no restore ${restoreId} (restores are kept in memory until the service restarts)`, 404);
  }
}
