import { DomainError } from '@continuity/contracts';

/** A restore that could not be done; `code` says why (`RESTORE.NO_HEALTHY_COPY`, `RESTORE.TARGET_NOT_EMPTY`, …). */
export class RestoreError extends DomainError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, 500, {}, options);
  }
}

/** No restore job with this id (404): jobs are kept in memory, so a restart forgets them. */
export class RestoreNotFoundError extends DomainError {
  constructor(restoreId: string) {
    super('RESTORE.NOT_FOUND', `no restore ${restoreId} (restores are kept in memory until the service restarts)`, 404);
  }
}

/** The key file given for a restore cannot be read or parsed (400). */
export class RestoreKeyInvalidError extends DomainError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('RESTORE.KEY_INVALID', `keyFile: ${message}`, 400, {}, options);
  }
}
