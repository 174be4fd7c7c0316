import './instrument.js';
import { bootstrapService } from '@continuity/runtime';
import { serveOpenApi } from './api/openapi.js';
import { AuditModule } from './audit.module.js';
import { auditEnvSchema } from './config/audit.config.js';
import { LOGIN_PATH } from './status/status-page.html.js';

void bootstrapService({ name: 'audit', defaultPort: 3004, module: AuditModule, envSchema: auditEnvSchema, configure: serveOpenApi, formPaths: [LOGIN_PATH] });
