import { Controller, Logger } from '@nestjs/common';
import { Ctx, Payload } from '@nestjs/microservices';
import { ContinuityEvent } from '@continuity/contracts';
import { JetStreamContext, OnEvent } from '@continuity/messaging';

/** Every new backup is to be verified; until verification lands (issue 4) it is logged. */
@Controller()
export class BackupCreatedListener {
  private readonly logger = new Logger(BackupCreatedListener.name);

  @OnEvent('BackupCreated')
  onBackupCreated(@Payload() event: ContinuityEvent<'BackupCreated'>, @Ctx() ctx: JetStreamContext) {
    this.logger.log(
      `BackupCreated ${event.data.backupId} of ${event.resource}: ${event.data.copies.length} copies, ${event.data.sizeBytes} bytes (stream seq ${ctx.streamSequence})`,
    );
  }
}
