import { Get, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { READERS, Roles } from '../api/roles.js';
import { Inject } from '@nestjs/common';
import { SERVICE_CONFIG } from '@continuity/runtime';
import { nonNegativeInt, parseQuery, positiveInt, RangeTooLargeError } from '../api/query.js';
import { AuditConfig } from '../config/audit.config.js';
import { LedgerProofs } from '../ledger/ledger.queries.js';
import { HistoryService } from '../history/history.service.js';
import { SigningKeysService } from '../signing/signing-keys.service.js';
import { TreeHeadsService } from '../signing/tree-heads.service.js';
import { EXPORT_FORMAT, LedgerExport } from './offline-verify.js';

const exportQuery = z
  .object({ from: nonNegativeInt.default(0), to: positiveInt.optional() })
  .refine((q) => q.to === undefined || q.from < q.to, { message: 'from must be < to', path: ['from'] });

/**
 * The export `continuity-audit verify` checks offline, at most AUDIT_EXPORT_MAX_ENTRIES entries per
 * request: an explicit larger range is a 400; without `to`, the first page and a `next` cursor. A
 * page short of the signed head carries its range proof, so each page verifies on its own.
 */
@AuditHttpController()
export class ExportHttpController {
  constructor(
    private readonly history: HistoryService,
    private readonly heads: TreeHeadsService,
    private readonly keys: SigningKeysService,
    private readonly proofs: LedgerProofs,
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
  ) {}

  @Get('export')
  @Roles(...READERS)
  @ApiOperation({ summary: 'Entries [from, to) by log index with the signed heads and every public key the ledger used, for offline verification' })
  async export(@Query() query: unknown): Promise<LedgerExport> {
    const { from, to } = parseQuery(exportQuery, query);
    const max = this.config.AUDIT_EXPORT_MAX_ENTRIES;
    if (to !== undefined && to - from > max) {
      throw new RangeTooLargeError(`export of entries ${from}…${to - 1}`, max, 'entries', `ask for from/to ranges of at most ${max} entries (each page carries its own proof)`);
    }
    const head = await this.heads.latest();
    const size = head?.treeSize ?? 0;
    const end = Math.min(to ?? from + max, size);
    const next = to === undefined && end < size ? { from: end, to: Math.min(end + max, size) } : null;
    const partial = head !== null && end > from && !(from === 0 && end === size);
    return {
      format: EXPORT_FORMAT,
      from,
      to: Math.max(end, from),
      signedHead: head,
      // The heads a verifier can match to these entries (bounded by the page: one head per size at most).
      signedHeads: (await this.heads.between(from, end)).filter((h) => h.treeSize <= size),
      publicKeyPem: this.keys.publicKeyPem,
      publicKeys: await this.keys.all(), // read after the heads: it holds every key they name
      entries: (await this.history.entriesByIndex(from, end)).map((e) => ({ logIndex: e.logIndex, leafHash: e.leafHash, envelope: e.envelope })),
      ...(partial ? { rangeProof: { treeSize: size, hashes: await this.proofs.range(from, end, size) } } : {}),
      next,
    };
  }
}
