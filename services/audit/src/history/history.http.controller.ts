import { Get, Param, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { ResourceSchema } from '@continuity/contracts';
import { AuditHttpController } from '../api/audit-http.decorator.js';
import { READERS, Roles } from '../api/roles.js';
import { isoTime, nonNegativeInt, parsePath, parseQuery, positiveInt } from '../api/query.js';
import { TreeTooSmallError } from '../ledger/ledger.queries.js';
import { LedgerWriter } from '../ledger/ledger.writer.js';
import { HistoryService } from './history.service.js';

const eventsQuery = z.object({
  resource: ResourceSchema.optional(),
  type: z.string().regex(/^[A-Z][A-Za-z0-9]+$/, 'must be an event type such as BackupCreated').optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  cursor: nonNegativeInt.optional(),
  limit: positiveInt.max(1000, 'must be ≤ 1000').default(100),
  // A signed head's size: the page is limited to that tree and proven in it (one proof per page, bounded by limit).
  treeSize: positiveInt.optional(),
});

// Built once: a zod schema is compiled on its first parse, so one made per request costs every request.
const eventPath = z.object({ id: z.uuid({ message: 'must be an event id (UUID)' }) });
const eventQuery = z.object({ treeSize: positiveInt.optional() });
const resourcePath = z.object({ resource: ResourceSchema });
const stateQuery = z.object({ at: isoTime.optional() });

@AuditHttpController()
export class HistoryHttpController {
  constructor(
    private readonly history: HistoryService,
    private readonly writer: LedgerWriter,
  ) {}

  @Get('events')
  @Roles(...READERS)
  @ApiOperation({
    summary: 'Ledger entries by resource, type and occurrence time, oldest first, paged by cursor; with ?treeSize= (a signed head\'s size) only entries in that tree, and `proof`: one multi-leaf inclusion proof of the page against it',
  })
  async events(@Query() query: unknown) {
    const filter = parseQuery(eventsQuery, query);
    await this.requireStored(filter.treeSize);
    return this.history.events(filter);
  }

  @Get('events/:id')
  @Roles(...READERS)
  @ApiOperation({ summary: 'One entry with its log index, leaf hash and inclusion proof against the latest signed head, or with ?treeSize= against that tree' })
  async event(@Param() params: unknown, @Query() query: unknown) {
    const { id } = parsePath(eventPath, params);
    const { treeSize } = parseQuery(eventQuery, query);
    await this.requireStored(treeSize);
    return this.history.event(id, treeSize);
  }

  /** A proof against a tree the ledger does not hold (yet) cannot be made: 404, saying the size. */
  private async requireStored(treeSize: number | undefined) {
    if (treeSize === undefined) return;
    const size = await this.writer.storedSize();
    if (treeSize > size) throw new TreeTooSmallError(treeSize, size);
  }

  @Get('resources')
  @Roles(...READERS)
  @ApiOperation({ summary: 'Current continuity state of every resource' })
  async resources() {
    return { resources: await this.history.currentStates() };
  }

  @Get('resources/:resource/state')
  @Roles(...READERS)
  @ApiOperation({ summary: "A resource's state as recorded at a past time, with the signed head and consistency proof covering it" })
  stateAt(@Param() params: unknown, @Query() query: unknown) {
    const { resource } = parsePath(resourcePath, params);
    const { at } = parseQuery(stateQuery, query);
    return this.history.stateAt(resource, at ?? new Date());
  }
}
