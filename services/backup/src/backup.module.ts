import { Module } from '@nestjs/common';
import { IntegrityVerifiedListener } from './retention/integrity-verified.listener.js';

@Module({ controllers: [IntegrityVerifiedListener] })
export class BackupModule {}
