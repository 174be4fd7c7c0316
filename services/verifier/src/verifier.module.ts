import { Module } from '@nestjs/common';
import { CoverageHttpController } from './scrub/coverage.http.controller.js';
import { ScrubScheduler } from './scrub/scrub.scheduler.js';
import { ScrubCoverageMetrics } from './scrub/coverage.metrics.js';
import { StopScrubbingOnBackupExpired, VerifyOnBackupCreated } from './verification/backup-created.listener.js';
import { VerificationHttpController } from './verification/verification.http.controller.js';
import { VerificationService } from './verification/verification.service.js';
import { verifierProviders } from './verifier.providers.js';
import { RecordRestorePointOnRestorePointCreated, VerifyWalOnWalArchived } from './wal/wal-archived.listener.js';
import { WalVerificationService } from './wal/wal-verification.service.js';

@Module({
  // CoverageHttpController before VerificationHttpController: routes match in registration order,
  // and `GET /verifications/coverage` must not be read as `GET /verifications/:id`.
  controllers: [VerifyOnBackupCreated, StopScrubbingOnBackupExpired, VerifyWalOnWalArchived, RecordRestorePointOnRestorePointCreated, CoverageHttpController, VerificationHttpController],
  providers: [...verifierProviders, VerificationService, WalVerificationService, ScrubScheduler, ScrubCoverageMetrics],
})
export class VerifierModule {}
