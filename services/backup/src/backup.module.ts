import { Module } from '@nestjs/common';
import { backupProviders } from './backup.providers.js';
import { BackupRunHttpController } from './backup-run/backup-run.http.controller.js';
import { BackupsHttpController } from './catalogue/backups.http.controller.js';
import { RestoreHttpController } from './restore/restore.http.controller.js';
import { RecordVerdictOnIntegrityVerified } from './retention/integrity-verified.listener.js';
import { BackupScheduler } from './scheduler/backup.scheduler.js';
import { WalArchiveService } from './wal/wal-archive.service.js';
import { DrillsHttpController } from './drills/drills.http.controller.js';
import { DrillScheduler } from './drills/drill.scheduler.js';

@Module({
  controllers: [BackupRunHttpController, BackupsHttpController, RestoreHttpController, RecordVerdictOnIntegrityVerified, DrillsHttpController],
  providers: [...backupProviders, BackupScheduler, WalArchiveService, DrillScheduler],
})
export class BackupModule {}
