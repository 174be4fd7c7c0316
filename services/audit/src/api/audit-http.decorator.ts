import { applyDecorators, Controller } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';

/** Every audit HTTP controller: routes under /audit, one OpenAPI tag, documented as taking a bearer token. */
export const AuditHttpController = () => applyDecorators(ApiTags('audit'), ApiBearerAuth(), Controller('audit'));
