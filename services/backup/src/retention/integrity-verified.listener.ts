import { Controller, Logger } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { ContinuityEvent } from '@continuity/contracts';
import { OnEvent } from '@continuity/messaging';

/**
 * Retention must never delete a resource's newest verified backup, so the backup service follows
 * verdicts. Until retention lands (issue 3) it logs them.
 */
@Controller()
export class IntegrityVerifiedListener {
  private readonly logger = new Logger(IntegrityVerifiedListener.name);

  @OnEvent('IntegrityVerified')
  onIntegrityVerified(@Payload() event: ContinuityEvent<'IntegrityVerified'>) {
    this.logger.log(`IntegrityVerified ${event.data.backupId} of ${event.resource}: ${event.data.verdict} (${event.data.trigger})`);
  }
}
