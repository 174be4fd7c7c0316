import './instrument.js';
import { bootstrapService } from '@continuity/runtime';
import { serveOpenApi } from './api/openapi.js';
import { AuditModule } from './audit.module.js';
import { auditEnvSchema } from './config/audit.config.js';

void bootstrapService({ name: 'audit', defaultPort: 3004, module: AuditModule, envSchema: auditEnvSchema, configure: serveOpenApi });
