import { Module } from '@nestjs/common';
import { VerificationsController } from './api/verifications.controller.js';
import { ScrubScheduler } from './scrub/scrub.scheduler.js';
import { StopScrubbingOnBackupExpired, VerifyOnBackupCreated } from './verification/backup-created.listener.js';
import { VerificationService } from './verification/verification.service.js';
import { verifierProviders } from './verifier.providers.js';

@Module({
  controllers: [VerifyOnBackupCreated, StopScrubbingOnBackupExpired, VerificationsController],
  providers: [...verifierProviders, VerificationService, ScrubScheduler],
})
export class VerifierModule {}
