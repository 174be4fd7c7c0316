import { Controller, Inject, Logger } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { ContinuityEvent } from '@continuity/contracts';
import { OnEvent } from '@continuity/messaging';
import { Catalogue } from '../catalogue/catalogue.js';
import { CATALOGUE } from '../tokens.js';

/**
 * Retention must never delete a resource's newest verified backup, so the backup service records
 * every verdict. Idempotent: a redelivered (or older, reordered) verdict never overwrites a newer
 * one (the upsert compares `occurredAt`); the message is acked only after the row is written.
 */
@Controller()
export class RecordVerdictOnIntegrityVerified {
  private readonly logger = new Logger(RecordVerdictOnIntegrityVerified.name);

  constructor(@Inject(CATALOGUE) private readonly catalogue: Catalogue) {}

  @OnEvent('IntegrityVerified')
  async onIntegrityVerified(@Payload() event: ContinuityEvent<'IntegrityVerified'>) {
    await this.catalogue.recordVerdict({
      backupId: event.data.backupId,
      resource: event.resource,
      verdict: event.data.verdict,
      trigger: event.data.trigger,
      eventId: event.id,
      occurredAt: event.occurredAt,
    });
    this.logger.log(`IntegrityVerified ${event.data.backupId} of ${event.resource}: ${event.data.verdict} (${event.data.trigger}) recorded`);
  }
}
