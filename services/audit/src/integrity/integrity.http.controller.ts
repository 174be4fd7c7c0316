import { Get, HttpCode, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { READERS, Roles } from '../api/roles.js';
import { TamperCheckService } from './tamper-check.service.js';

@AuditHttpController()
export class IntegrityHttpController {
  constructor(private readonly tamperCheck: TamperCheckService) {}

  @Get('integrity')
  @Roles(...READERS)
  @ApiOperation({ summary: 'The last re-check of the stored ledger against its signed heads' })
  integrity() {
    return this.tamperCheck.last ?? { message: 'the first check is still running' };
  }

  @Post('integrity/check')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({ summary: 'Re-check the stored ledger against its signed heads now (operator)' })
  checkIntegrity() {
    return this.tamperCheck.check();
  }
}
