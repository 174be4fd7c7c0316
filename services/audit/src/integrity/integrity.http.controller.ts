import { Get, HttpCode, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { READERS, Roles } from '../api/roles.js';
import { WriterLease } from '../database/writer-lease.js';
import { TamperCheckService } from './tamper-check.service.js';

@AuditHttpController()
export class IntegrityHttpController {
  constructor(
    private readonly tamperCheck: TamperCheckService,
    private readonly lease: WriterLease,
  ) {}

  @Get('integrity')
  @Roles(...READERS)
  @ApiOperation({ summary: 'The last re-check of the stored ledger against its signed heads (and why the latest failed to run, if it did), and which instance writes the ledger' })
  async integrity() {
    const { last, failure } = this.tamperCheck;
    return {
      ...(last ?? { message: failure ? 'no check has completed yet' : 'the first check is still running' }),
      ...(failure ? { failedToRun: failure } : {}),
      ledgerWriter: await this.lease.status(),
    };
  }

  @Post('integrity/check')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({ summary: 'Re-check the stored ledger against its signed heads now (operator)' })
  checkIntegrity() {
    return this.tamperCheck.check();
  }
}
