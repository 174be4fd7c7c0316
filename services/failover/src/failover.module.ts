import { Module } from '@nestjs/common';
import { FailoverEventsListener } from './failover-decision/failover-events.listener.js';

@Module({ controllers: [FailoverEventsListener] })
export class FailoverModule {}
