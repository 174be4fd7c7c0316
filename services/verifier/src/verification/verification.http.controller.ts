import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { parseRequest, Roles } from '@continuity/runtime';
import { STORE } from '../tokens.js';
import { VerificationNotFoundError } from './verification.errors.js';
import { INVALID_REQUEST, ListVerificationsQuery, uuidParam, VerifyBody } from './verification.requests.js';
import { VerificationService } from './verification.service.js';
import type { VerificationRow, VerificationStore } from './verification.store.js';

const view = (row: VerificationRow) => ({
  verificationId: row.verificationId,
  backupId: row.backupId,
  resource: row.resource,
  trigger: row.trigger,
  status: row.status,
  verdict: row.verdict,
  requestedAt: row.requestedAt,
  startedAt: row.startedAt,
  finishedAt: row.finishedAt,
  attempts: row.attempts,
  copies: row.result?.copies ?? null,
  restoreTest: row.result?.restoreTest ?? null,
  reasons: row.result?.reasons ?? null,
  event: row.envelope ? { id: row.envelope.id, publishedAt: row.publishedAt } : null,
  links: { self: `/verifications/${row.verificationId}` },
});

/**
 * Verdicts and on-demand verification. `GET /verifications` newest first, filtered;
 * `POST /verifications {backupId}` re-verifies now (trigger `manual`), 202 with the verification
 * to follow at its link. Errors are the service's domain errors, answered by the global filter.
 */
@Controller('verifications')
export class VerificationHttpController {
  constructor(
    @Inject(STORE) private readonly store: VerificationStore,
    private readonly verifications: VerificationService,
  ) {}

  @Get()
  async list(@Query() query: unknown) {
    const q = parseRequest(ListVerificationsQuery, query, { part: 'query', code: INVALID_REQUEST });
    return { verifications: (await this.store.list(q)).map(view) };
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    const row = uuidParam.safeParse(id).success ? await this.store.verification(id) : null;
    if (!row) throw new VerificationNotFoundError(id);
    return view(row);
  }

  @Post()
  @Roles('operator')
  @HttpCode(202)
  async request(@Body() body: unknown) {
    const { backupId } = parseRequest(VerifyBody, body, { part: 'body', code: INVALID_REQUEST });
    return view(await this.verifications.requestManual(backupId));
  }
}
