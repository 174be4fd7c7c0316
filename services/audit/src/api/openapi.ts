import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/** OpenAPI description of the audit API, served at /audit/docs (JSON at /audit/docs-json). */
export const serveOpenApi = (app: INestApplication) => {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Continuity audit')
      .setDescription('Verifiable ledger of continuity events: point-in-time state, signed tree heads, proofs, reports, exports')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('audit/docs', app, document);
};
