import { Module } from '@nestjs/common';
import { BackupCreatedListener } from './verification/backup-created.listener.js';

@Module({ controllers: [BackupCreatedListener] })
export class VerifierModule {}
