import { Controller, Inject, Logger } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { ContinuityEvent } from '@continuity/contracts';
import { OnEvent } from '@continuity/messaging';
import { STORE } from '../tokens.js';
import { VerificationService } from './verification.service.js';
import type { VerificationStore } from './verification.store.js';

/**
 * Many BackupCreated may be in hand at once: the verifier's own limit (VERIFIER_CONCURRENCY)
 * decides how many are verified at a time. Messages waiting for a slot count as in progress for
 * the transport, which keeps them alive (working()) like the running ones.
 */
const IN_HAND = 64;

/**
 * Verifies every new backup, ours or an external publisher's. Acked once the verdict is recorded
 * and published; a redelivery publishes nothing new (see VerificationService). A verification that
 * could not finish (the verifier's database down, shutdown) throws: the message is retried later.
 */
@Controller()
export class VerifyOnBackupCreated {
  constructor(private readonly verifications: VerificationService) {}

  @OnEvent('BackupCreated', { concurrency: IN_HAND })
  async onBackupCreated(@Payload() event: ContinuityEvent<'BackupCreated'>) {
    await this.verifications.verifyNew(event);
  }
}

/** An expired backup's copies were deleted on purpose: it is no longer scrubbed nor counted as retained. */
@Controller()
export class StopScrubbingOnBackupExpired {
  private readonly logger = new Logger(StopScrubbingOnBackupExpired.name);

  constructor(@Inject(STORE) private readonly store: VerificationStore) {}

  @OnEvent('BackupExpired')
  async onBackupExpired(@Payload() event: ContinuityEvent<'BackupExpired'>) {
    await this.store.recordExpired(event.data.backupId, event.resource, event.occurredAt);
    this.logger.log(`backup ${event.data.backupId} of ${event.resource} expired: no longer scrubbed`);
  }
}
