import { DomainError } from '@continuity/contracts';

/** The verifier's domain errors, each with its code and the HTTP status the error filter answers with. */
export class BackupNotFoundError extends DomainError {
  constructor(message: string) {
    super('VERIFY.BACKUP_NOT_FOUND', message, 404);
  }
}

export class BackupExpiredError extends DomainError {
  constructor(message: string) {
    super('VERIFY.BACKUP_EXPIRED', message, 409);
  }
}

export class VerificationNotFoundError extends DomainError {
  constructor(verificationId: string) {
    super('VERIFY.NOT_FOUND', `no verification ${verificationId}`, 404);
  }
}

export class VerificationRunningError extends DomainError {
  constructor(
    readonly backupId: string,
    readonly verificationId: string,
  ) {
    super('VERIFY.ALREADY_RUNNING', `backup ${backupId} is being verified right now (verification ${verificationId}); wait for its verdict`, 409, {
      verificationId,
      links: { running: `/verifications/${verificationId}` },
    });
  }
}

/** Not for HTTP: interrupts running verifications at shutdown (named AbortError, as aborts are). */
export class ShutdownError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'VERIFY.SHUTTING_DOWN';
  constructor() {
    super('the verifier is stopping: verification interrupted (it is taken up again after the restart)');
  }
}
