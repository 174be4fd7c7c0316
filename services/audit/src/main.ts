import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { bootstrapService } from '@continuity/runtime';
import { AuditModule } from './audit.module.js';
import { auditEnvSchema } from './config/audit.config.js';

void bootstrapService({
  name: 'audit',
  defaultPort: 3004,
  module: AuditModule,
  envSchema: auditEnvSchema,
  configure: (app) => {
    const document = SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('Continuity audit')
        .setDescription('Verifiable ledger of continuity events: point-in-time state, signed tree heads, proofs, exports')
        .addBearerAuth()
        .build(),
    );
    SwaggerModule.setup('audit/docs', app, document);
  },
});
