import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import type { Envelope } from '@continuity/contracts';
import { OnEvent } from '@continuity/messaging';
import { NotifierService } from './notifier.service.js';

/**
 * The notifier's durable consumer over every event (types added later are routed by name as soon
 * as they are published: NATS 2.9 has no multi-filter consumer, and one consumer per type would
 * need a registry entry per type). Provenance is checked by the notifier itself, so events it
 * ignores are acked, not dead-lettered a second time beside the ledger.
 */
@Controller()
export class NotifierListener {
  constructor(private readonly notifier: NotifierService) {}

  // Many in flight: a notification waiting for a channel that is down keeps its slot (and its
  // message marked working) while others go on.
  @OnEvent('*', { durable: 'audit_notifier', concurrency: 64, provenance: 'record' })
  async notify(@Payload() event: Envelope<string, unknown>): Promise<void> {
    await this.notifier.handle(event);
  }
}
