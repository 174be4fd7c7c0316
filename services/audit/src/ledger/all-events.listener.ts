import { Controller, Logger } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { Envelope } from '@continuity/contracts';
import { JetStreamContext, OnEvent } from '@continuity/messaging';

/**
 * One durable consumer over every event, of every type (also types this build does not know).
 * Until the ledger lands (issue 5) it logs them.
 */
@Controller()
export class AllEventsListener {
  private readonly logger = new Logger(AllEventsListener.name);

  @OnEvent('*')
  onEvent(@Payload() event: Envelope, @Ctx() ctx: JetStreamContext) {
    this.logger.log(`${event.type} ${event.id} for ${event.resource} from ${event.source} (stream seq ${ctx.streamSequence})`);
  }
}
