import { Controller, Get, Headers, HttpCode, NotFoundException, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { ResourceSchema } from '@continuity/contracts';
import { HistoryService, NotFoundInLedgerError } from '../history/history.service.js';
import { LedgerProofs } from '../ledger/ledger.queries.js';
import { LedgerWriter } from '../ledger/ledger.writer.js';
import { TreeHeadsService } from '../signing/tree-heads.service.js';
import { TamperCheckService } from '../integrity/tamper-check.service.js';
import { ReportService } from '../reports/report.service.js';
import { ProjectionRebuildService } from '../resource-state/projection-rebuild.service.js';
import { Roles } from './auth.guard.js';
import { isoTime, nonNegativeInt, parseParams, positiveInt } from './query.js';

const READ = ['auditor', 'operator'] as const;

@ApiTags('audit')
@ApiBearerAuth()
@Controller('audit')
export class AuditController {
  constructor(
    private readonly history: HistoryService,
    private readonly heads: TreeHeadsService,
    private readonly proofs: LedgerProofs,
    private readonly writer: LedgerWriter,
    private readonly tamperCheck: TamperCheckService,
    private readonly reports: ReportService,
    private readonly rebuilder: ProjectionRebuildService,
  ) {}

  @Post('projections/rebuild')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({ summary: 'Rebuild every projection from the log and compare; ?apply=true replaces the stored ones (operator)' })
  rebuild(@Query() query: unknown) {
    const { apply } = parseParams(z.object({ apply: z.enum(['true', 'false'], { message: 'must be true or false' }).default('false') }), query);
    return this.rebuilder.rebuild(apply === 'true');
  }

  @Get('reports/continuity')
  @Roles(...READ)
  @ApiOperation({ summary: 'Continuity report (RPO, backups, 3-2-1, failovers, availability, SLO breaches): JSON, or HTML with ?format=html or Accept: text/html' })
  async continuityReport(@Query() query: unknown, @Headers('accept') accept: string | undefined, @Res({ passthrough: true }) res: Response) {
    const { from, to, format } = parseParams(
      z
        .object({
          from: isoTime.optional(),
          to: isoTime.optional(),
          format: z.enum(['json', 'html'], { message: 'must be json or html' }).optional(),
        })
        .refine((q) => !q.from || !q.to || q.from < q.to, { message: 'from must be before to', path: ['from'] }),
      query,
    );
    const end = to ?? new Date();
    const start = from ?? new Date(end.getTime() - 30 * 86_400_000);
    const html = format === 'html' || (!format && (accept ?? '').includes('text/html'));
    if (!html) return this.reports.continuity(start, end);
    res.type('html');
    return this.reports.continuityHtml(start, end);
  }

  @Get('integrity')
  @Roles(...READ)
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

  @Get('public-key')
  @ApiOperation({ summary: 'The Ed25519 public key that verifies every signed tree head (open to anyone)' })
  publicKey() {
    return { algorithm: 'Ed25519', keyId: this.heads.keyId, publicKeyPem: this.heads.publicKeyPem };
  }

  @Get('tree-heads/latest')
  @Roles(...READ)
  @ApiOperation({ summary: 'The latest signed tree head' })
  async latestHead() {
    const head = await this.heads.latest();
    if (!head) throw new NotFoundException({ code: 'AUDIT.NO_SIGNED_HEAD', message: 'no tree head has been signed yet (the ledger is empty)' });
    return head;
  }

  @Get('tree-heads')
  @Roles(...READ)
  @ApiOperation({ summary: 'Signed tree heads; with ?size=, the first head covering at least that many entries' })
  async headsBySize(@Query() query: unknown) {
    const { size } = parseParams(z.object({ size: positiveInt.optional() }), query);
    if (size === undefined) return { heads: await this.heads.all() };
    const head = await this.heads.atOrAfter(size);
    if (!head) throw new NotFoundException({ code: 'AUDIT.NO_SIGNED_HEAD', message: `no signed head covers ${size} entries yet` });
    return head;
  }

  @Post('tree-heads')
  @HttpCode(201)
  @Roles('operator')
  @ApiOperation({ summary: 'Sign the current head now (operator)' })
  async signNow() {
    return (await this.heads.signNow()) ?? { treeSize: 0, message: 'the ledger is empty: nothing to sign' };
  }

  @Get('proofs/consistency')
  @Roles(...READ)
  @ApiOperation({ summary: 'Consistency proof between tree sizes from ≤ to (RFC 9162 2.1.4)' })
  async consistency(@Query() query: unknown) {
    const { from, to } = parseParams(
      z.object({ from: positiveInt, to: positiveInt }).refine((q) => q.from <= q.to, { message: 'from must be ≤ to', path: ['from'] }),
      query,
    );
    const size = this.writer.head.treeSize;
    if (to > size) throw new NotFoundException({ code: 'AUDIT.TREE_TOO_SMALL', message: `to=${to} exceeds the ledger's ${size} entries` });
    return { from, to, proof: await this.proofs.consistency(from, to) };
  }

  @Get('events')
  @Roles(...READ)
  @ApiOperation({ summary: 'Ledger entries by resource, type and occurrence time, oldest first, paged by cursor' })
  async events(@Query() query: unknown) {
    const filter = parseParams(
      z.object({
        resource: ResourceSchema.optional(),
        type: z.string().regex(/^[A-Z][A-Za-z0-9]+$/, 'must be an event type such as BackupCreated').optional(),
        from: isoTime.optional(),
        to: isoTime.optional(),
        cursor: nonNegativeInt.optional(),
        limit: positiveInt.max(1000, 'must be ≤ 1000').default(100),
      }),
      query,
    );
    return this.history.events(filter);
  }

  @Get('events/:id')
  @Roles(...READ)
  @ApiOperation({ summary: 'One entry with its log index, leaf hash and inclusion proof against the latest signed head' })
  async event(@Param() params: unknown) {
    const { id } = parseParams(z.object({ id: z.uuid({ message: 'must be an event id (UUID)' }) }), params);
    try {
      return await this.history.event(id);
    } catch (error) {
      if (error instanceof NotFoundInLedgerError) throw new NotFoundException({ code: error.code, message: error.message });
      throw error;
    }
  }

  @Get('resources')
  @Roles(...READ)
  @ApiOperation({ summary: 'Current continuity state of every resource' })
  async resources() {
    return { resources: await this.history.currentStates() };
  }

  @Get('resources/:resource/state')
  @Roles(...READ)
  @ApiOperation({ summary: "A resource's state as recorded at a past time, with the signed head and consistency proof covering it" })
  async stateAt(@Param() params: unknown, @Query() query: unknown) {
    const { resource } = parseParams(z.object({ resource: ResourceSchema }), params);
    const { at } = parseParams(z.object({ at: isoTime.optional() }), query);
    return this.history.stateAt(resource, at ?? new Date());
  }

  @Get('export')
  @Roles(...READ)
  @ApiOperation({ summary: 'Entries [from, to) by log index with the latest signed head and public key, for offline verification' })
  async export(@Query() query: unknown) {
    const head = await this.heads.latest();
    const { from, to } = parseParams(
      z
        .object({ from: nonNegativeInt.default(0), to: positiveInt.optional() })
        .refine((q) => q.to === undefined || q.from < q.to, { message: 'from must be < to', path: ['from'] }),
      query,
    );
    const end = Math.min(to ?? head?.treeSize ?? 0, head?.treeSize ?? 0);
    return {
      format: 'continuity-audit-export/1',
      from,
      to: end,
      signedHead: head,
      publicKeyPem: this.heads.publicKeyPem,
      entries: (await this.history.entriesByIndex(from, end)).map((e) => ({ logIndex: e.logIndex, leafHash: e.leafHash, envelope: e.envelope })),
    };
  }
}
