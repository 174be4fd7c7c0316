import { Controller, Logger } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { ContinuityEvent } from '@continuity/contracts';
import { OnEvent } from '@continuity/messaging';

/**
 * Logs the failovers recorded in the event stream (whichever instance decided them). Instances do
 * not learn epochs or primaries from here: they follow the route record in KV, which is written
 * before FailoverCompleted is published. The durable consumer is shared by all instances, so each
 * event is logged by one of them.
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

  @OnEvent('FailoverAbandoned')
  onAbandoned(@Payload() event: ContinuityEvent<'FailoverAbandoned'>) {
    this.logger.warn(
      `FailoverAbandoned for ${event.resource}: ${event.data.fromInstance} → ${event.data.toInstance ?? 'none'} (epoch ${event.data.epoch}): ${event.data.reason}`,
    );
  }
}
