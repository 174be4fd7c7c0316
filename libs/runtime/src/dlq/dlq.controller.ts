import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { z } from 'zod';
import { DeadLetters, parseDeadLetterSequence } from '@continuity/messaging';
import { type Caller, CurrentCaller, Roles } from '../http/access.guard.js';
import { parseRequest } from '../http/parse-request.js';

const ListQuery = z
  .object({
    consumer: z.string().optional(),
    since: z.iso.datetime({ offset: true, message: 'must be an ISO-8601 time' }).optional(),
    id: z.string().max(128).optional(),
    after: z.coerce.number().int().nonnegative().optional(),
    limit: z.coerce.number().int().min(1).max(500).optional(),
  })
  .strict();

const ReplayBody = z.object({ force: z.boolean().default(false) }).strict();

/**
 * The dead-letter stream, for operators, on every service (the same as `continuity-dlq`): list,
 * show one whole, replay one to the consumer that gave up on it. Dead letters hold event bodies,
 * so reading them needs an operator token too. Replays are recorded as `DeadLetterReplayed`, by the
 * token's name.
 */
@Controller('dlq')
@Roles('operator')
export class DlqController {
  constructor(private readonly deadLetters: DeadLetters) {}

  @Get()
  list(@Query() query: unknown) {
    const q = parseRequest(ListQuery, query, { part: 'query' });
    return this.deadLetters.list({ consumer: q.consumer, since: q.since ? new Date(q.since) : undefined, eventId: q.id, after: q.after, limit: q.limit });
  }

  @Get(':seq')
  show(@Param('seq') seq: string) {
    return this.deadLetters.show(parseDeadLetterSequence(seq));
  }

  @Post(':seq/replay')
  @HttpCode(200)
  replay(@Param('seq') seq: string, @Body() body: unknown, @CurrentCaller() caller: Caller) {
    const { force } = parseRequest(ReplayBody, body);
    return this.deadLetters.replay(parseDeadLetterSequence(seq), { by: caller.name, force });
  }
}
