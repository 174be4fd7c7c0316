import { DomainError } from '@continuity/contracts';

/** The resource is not in the configuration, or has no policy: nothing can back it up (404). */
export class UnknownResourceError extends DomainError {
  constructor(message: string) {
    super('BACKUP.UNKNOWN_RESOURCE', message, 404);
  }
}

/**
 * One run per resource at a time (409). Raised by the runner for a run of this process and by the
 * catalogue's unique index for a run of any process, so it holds across the service, the CLI and
 * replicas; `runningBackupId` lets the caller follow the run that holds the resource.
 */
export class BackupAlreadyRunningError extends DomainError {
  constructor(
    readonly resource: string,
    readonly runningBackupId: string | null,
  ) {
    super('BACKUP.ALREADY_RUNNING', `a backup of ${resource} is already running${runningBackupId ? ` (${runningBackupId})` : ''}; wait for it to finish`, 409, { runningBackupId });
  }
}
