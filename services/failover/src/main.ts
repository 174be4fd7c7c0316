import './instrument.js';
import { bootstrapService } from '@continuity/runtime';
import { FailoverModule } from './failover.module.js';
import { failoverEnvSchema } from './failover.env.js';

void bootstrapService({ name: 'failover', defaultPort: 3003, module: FailoverModule, envSchema: failoverEnvSchema });
