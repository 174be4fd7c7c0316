import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import type { Envelope, EventType } from '@continuity/contracts';
import { OnEvent } from '@continuity/messaging';
import { NotifierService } from './notifier.service.js';

/**
 * One durable consumer per notified type (`audit_notify_<Type>`), subscribed by type name. Types
 * this build has no schema for yet (`SloBreached`, `RiskIdentified`, `DrillCompleted` come from
 * other slices) are accepted as well-formed envelopes and read through `noticeOf`'s generic field
 * access; once their schemas are registered they are validated like any other.
 *
 * Not one consumer over `*`: the transport keys handlers by pattern, so a second `*` handler would
 * be chained onto the ledger's consumer, and a channel that is down must not hold the ledger up.
 * Provenance is checked by the notifier (`record` here), so an untrusted event is ignored and
 * logged rather than dead-lettered a second time beside the ledger.
 */
const options = (type: string) => ({ durable: `audit_notify_${type}`, concurrency: 64, acceptUnknownTypes: true, provenance: 'record' as const });
/** Types the contracts of this build may not define yet: subscribed by name all the same. */
const named = (type: string) => type as EventType;

@Controller()
export class NotifierListener {
  constructor(private readonly notifier: NotifierService) {}

  @OnEvent('FailoverTriggered', options('FailoverTriggered'))
  failoverTriggered(@Payload() event: Envelope<string, unknown>) {
    return this.notifier.handle(event);
  }

  @OnEvent('FailoverCompleted', options('FailoverCompleted'))
  failoverCompleted(@Payload() event: Envelope<string, unknown>) {
    return this.notifier.handle(event);
  }

  @OnEvent('FailoverAbandoned', options('FailoverAbandoned'))
  failoverAbandoned(@Payload() event: Envelope<string, unknown>) {
    return this.notifier.handle(event);
  }

  @OnEvent('BackupFailed', options('BackupFailed'))
  backupFailed(@Payload() event: Envelope<string, unknown>) {
    return this.notifier.handle(event);
  }

  @OnEvent(named('SloBreached'), options('SloBreached'))
  sloBreached(@Payload() event: Envelope<string, unknown>) {
    return this.notifier.handle(event);
  }

  @OnEvent(named('RiskIdentified'), options('RiskIdentified'))
  riskIdentified(@Payload() event: Envelope<string, unknown>) {
    return this.notifier.handle(event);
  }

  @OnEvent(named('DrillCompleted'), options('DrillCompleted'))
  drillCompleted(@Payload() event: Envelope<string, unknown>) {
    return this.notifier.handle(event);
  }
}
