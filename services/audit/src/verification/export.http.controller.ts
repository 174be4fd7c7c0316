import { Get, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { READERS, Roles } from '../api/roles.js';
import { nonNegativeInt, parseQuery, positiveInt } from '../api/query.js';
import { HistoryService } from '../history/history.service.js';
import { SigningKeysService } from '../signing/signing-keys.service.js';
import { TreeHeadsService } from '../signing/tree-heads.service.js';
import { EXPORT_FORMAT, LedgerExport } from './offline-verify.js';

const exportQuery = z
  .object({ from: nonNegativeInt.default(0), to: positiveInt.optional() })
  .refine((q) => q.to === undefined || q.from < q.to, { message: 'from must be < to', path: ['from'] });

/** The export `continuity-audit verify` checks offline. */
@AuditHttpController()
export class ExportHttpController {
  constructor(
    private readonly history: HistoryService,
    private readonly heads: TreeHeadsService,
    private readonly keys: SigningKeysService,
  ) {}

  @Get('export')
  @Roles(...READERS)
  @ApiOperation({ summary: 'Entries [from, to) by log index with the signed heads and every public key the ledger used, for offline verification' })
  async export(@Query() query: unknown): Promise<LedgerExport> {
    const head = await this.heads.latest();
    const { from, to } = parseQuery(exportQuery, query);
    const end = Math.min(to ?? head?.treeSize ?? 0, head?.treeSize ?? 0);
    return {
      format: EXPORT_FORMAT,
      from,
      to: end,
      signedHead: head,
      signedHeads: (await this.heads.all()).filter((h) => h.treeSize <= (head?.treeSize ?? 0)),
      publicKeyPem: this.keys.publicKeyPem,
      publicKeys: await this.keys.all(), // read after the heads: it holds every key they name
      entries: (await this.history.entriesByIndex(from, end)).map((e) => ({ logIndex: e.logIndex, leafHash: e.leafHash, envelope: e.envelope })),
    };
  }
}
