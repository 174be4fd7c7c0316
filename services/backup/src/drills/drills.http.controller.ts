import { Body, Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { z } from 'zod';
import { DrillKindSchema, RESOURCE_PATTERN } from '@continuity/contracts';
import { CurrentCaller, parseRequest, Roles, type Caller } from '@continuity/runtime';
import { DRILL_STORE, DRILLS } from '../tokens.js';
import type { DrillCoordinator } from './drill-coordinator.js';
import type { DrillStore } from './drill-store.js';

const StartDrillBody = z.strictObject({
  resource: z.string({ error: 'is required: the resource to drill' }).regex(RESOURCE_PATTERN, 'must be a resource name (letters, digits, "_" or "-")'),
  kind: DrillKindSchema.optional(),
});

/**
 * Recovery drills: 202 with the drill's id at once (404 `DRILL.UNKNOWN_RESOURCE` for a resource
 * with no drill configuration, 409 `DRILL.ALREADY_RUNNING`), then its steps and verdict by id.
 */
@Controller('drills')
export class DrillsHttpController {
  constructor(
    @Inject(DRILLS) private readonly drills: DrillCoordinator,
    @Inject(DRILL_STORE) private readonly store: DrillStore,
  ) {}

  @Post()
  @Roles('operator')
  @HttpCode(202)
  async start(@Body() body: unknown, @CurrentCaller() caller: Caller) {
    const { resource, kind } = parseRequest(StartDrillBody, body, { code: 'DRILL.INVALID_REQUEST' });
    // The outcome is in GET /drills/{id} and on the event stream: `done` is not awaited.
    const { view } = await this.drills.start(resource, { kind, trigger: 'api', requestedBy: caller?.name ?? null });
    return { drillId: view.drillId, resource, kind: view.kind, state: 'running', links: { self: `/drills/${view.drillId}` } };
  }

  @Get(':id')
  @Roles('viewer')
  get(@Param('id') drillId: string) {
    return this.store.get(drillId);
  }
}
