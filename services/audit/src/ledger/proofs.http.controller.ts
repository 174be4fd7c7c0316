import { Get, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { READERS, Roles } from '../api/roles.js';
import { parseQuery, positiveInt } from '../api/query.js';
import { LedgerProofs, TreeTooSmallError } from './ledger.queries.js';
import { LedgerWriter } from './ledger.writer.js';

const consistencyQuery = z.object({ from: positiveInt, to: positiveInt }).refine((q) => q.from <= q.to, { message: 'from must be ≤ to', path: ['from'] });

@AuditHttpController()
export class ProofsHttpController {
  constructor(
    private readonly proofs: LedgerProofs,
    private readonly writer: LedgerWriter,
  ) {}

  @Get('proofs/consistency')
  @Roles(...READERS)
  @ApiOperation({ summary: 'Consistency proof between tree sizes from ≤ to (RFC 9162 2.1.4)' })
  async consistency(@Query() query: unknown) {
    const { from, to } = parseQuery(consistencyQuery, query);
    const size = await this.writer.storedSize();
    if (to > size) throw new TreeTooSmallError(to, size);
    return { from, to, proof: await this.proofs.consistency(from, to) };
  }
}
