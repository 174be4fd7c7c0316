import { DomainError } from '@continuity/contracts';

/** No backup with this id in the catalogue (404). */
export class BackupNotFoundError extends DomainError {
  constructor(backupId: string) {
    super('BACKUP.NOT_FOUND', `no backup ${backupId}`, 404);
  }
}
