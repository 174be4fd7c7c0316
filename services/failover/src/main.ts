import { bootstrapService } from '@continuity/runtime';
import { FailoverModule } from './failover.module.js';

void bootstrapService({ name: 'failover', defaultPort: 3003, module: FailoverModule });
