import { bootstrapService } from '@continuity/runtime';
import { AuditModule } from './audit.module.js';

void bootstrapService({ name: 'audit', defaultPort: 3004, module: AuditModule });
