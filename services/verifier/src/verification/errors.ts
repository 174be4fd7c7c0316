/** The verifier's domain errors; the API maps them to 404/409 with their code. */
export class BackupNotFoundError extends Error {
  override readonly name = 'BackupNotFoundError';
  readonly code = 'VERIFY.BACKUP_NOT_FOUND';
}

export class BackupExpiredError extends Error {
  override readonly name = 'BackupExpiredError';
  readonly code = 'VERIFY.BACKUP_EXPIRED';
}

export class VerificationRunningError extends Error {
  override readonly name = 'VerificationRunningError';
  readonly code = 'VERIFY.ALREADY_RUNNING';
  constructor(
    readonly backupId: string,
    readonly verificationId: string,
  ) {
    super(`backup ${backupId} is being verified right now (verification ${verificationId}); wait for its verdict`);
  }
}

export class ShutdownError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'VERIFY.SHUTTING_DOWN';
  constructor() {
    super('the verifier is stopping: verification interrupted (it is taken up again after the restart)');
  }
}
