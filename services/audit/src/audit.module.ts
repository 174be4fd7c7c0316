import { Module } from '@nestjs/common';
import { AllEventsListener } from './ledger/all-events.listener.js';

@Module({ controllers: [AllEventsListener] })
export class AuditModule {}
