import { Controller, Logger } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { ContinuityEvent } from '@continuity/contracts';
import { OnEvent } from '@continuity/messaging';

/**
 * Several failover instances run; each follows the failovers the others decided so its own view of
 * epochs stays current. Until the failover logic lands (issue 6) it logs them.
 */
@Controller()
export class FailoverEventsListener {
  private readonly logger = new Logger(FailoverEventsListener.name);

  @OnEvent('FailoverTriggered')
  onTriggered(@Payload() event: ContinuityEvent<'FailoverTriggered'>) {
    this.logger.log(
      `FailoverTriggered for ${event.resource}: ${event.data.fromInstance} → ${event.data.toInstance ?? 'none'} (epoch ${event.data.epoch}): ${event.data.reason}`,
    );
  }

  @OnEvent('FailoverCompleted')
  onCompleted(@Payload() event: ContinuityEvent<'FailoverCompleted'>) {
    this.logger.log(`FailoverCompleted for ${event.resource}: ${event.data.newPrimary} primary, RTO ${event.data.rtoMs} ms`);
  }
}
