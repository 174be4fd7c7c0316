import { Module } from '@nestjs/common';
import { BackupsController } from './api/backups.controller.js';
import { backupProviders } from './backup.providers.js';
import { RecordVerdictOnIntegrityVerified } from './retention/integrity-verified.listener.js';
import { BackupScheduler } from './scheduler/backup.scheduler.js';

@Module({ controllers: [BackupsController, RecordVerdictOnIntegrityVerified], providers: [...backupProviders, BackupScheduler] })
export class BackupModule {}
