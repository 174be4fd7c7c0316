import { Controller, Inject, Logger } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { ContinuityEvent } from '@continuity/contracts';
import { OnEvent } from '@continuity/messaging';
import { WAL_STORE } from '../tokens.js';
import { WalVerificationService } from './wal-verification.service.js';
import type { WalStore } from './wal.store.js';

/**
 * Verifies each WAL shipment: its copies re-read, the chain checked. One at a time (the default
 * concurrency), in stream order, so a gap is judged with every earlier shipment applied. Acked once
 * the check and its events are committed and published; a refused event (a copy outside the file
 * roots) is dead-lettered with the reason.
 */
@Controller()
export class VerifyWalOnWalArchived {
  constructor(private readonly wal: WalVerificationService) {}

  @OnEvent('WalArchived')
  async onWalArchived(@Payload() event: ContinuityEvent<'WalArchived'>) {
    await this.wal.onArchived(event);
  }
}

/** Restore points are the targets of the base-backup replay test (idempotent: one row per name and position). */
@Controller()
export class RecordRestorePointOnRestorePointCreated {
  private readonly logger = new Logger(RecordRestorePointOnRestorePointCreated.name);

  constructor(@Inject(WAL_STORE) private readonly store: WalStore) {}

  @OnEvent('RestorePointCreated')
  async onRestorePointCreated(@Payload() event: ContinuityEvent<'RestorePointCreated'>) {
    await this.store.recordRestorePoint(event);
    this.logger.log(`restore point ${event.data.name} of ${event.resource} at ${event.data.lsn} recorded`);
  }
}
