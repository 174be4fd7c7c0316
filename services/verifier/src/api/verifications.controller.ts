import { BadRequestException, Body, ConflictException, Controller, Get, HttpCode, Inject, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { z } from 'zod';
import { RESOURCE_PATTERN } from '@continuity/contracts';
import { SERVICE_CONFIG } from '@continuity/runtime';
import { formatDuration } from '../config/duration.js';
import { STORE } from '../tokens.js';
import type { VerifierEnv } from '../verifier.env.js';
import { BackupExpiredError, BackupNotFoundError, VerificationRunningError } from '../verification/errors.js';
import { VerificationService } from '../verification/verification.service.js';
import type { VerificationRow, VerificationStore } from '../verification/verification.store.js';

const uuid = z.uuid({ message: 'must be a UUID' });
const resource = z.string().regex(RESOURCE_PATTERN, 'must be a resource name (letters, digits, "_" or "-")');

const ListQuery = z.strictObject({
  backupId: uuid.optional(),
  resource: resource.optional(),
  verdict: z.enum(['passed', 'failed', 'unverifiable'], { message: 'must be passed, failed or unverifiable' }).optional(),
  trigger: z.enum(['new', 'scrub', 'manual'], { message: 'must be new, scrub or manual' }).optional(),
  status: z.enum(['running', 'done', 'abandoned'], { message: 'must be running, done or abandoned' }).optional(),
  limit: z.coerce.number({ message: 'must be a whole number from 1 to 1000' }).int('must be a whole number from 1 to 1000').min(1, 'must be a whole number from 1 to 1000').max(1000, 'must be a whole number from 1 to 1000').default(100),
});
const CoverageQuery = z.strictObject({ resource: resource.optional() });
const VerifyBody = z.strictObject({ backupId: z.uuid({ error: (issue) => (issue.input === undefined ? 'is required: the backup to verify' : 'must be a UUID') }) });

/** 400 naming every bad parameter, e.g. `verdict: must be passed, failed or unverifiable (got "ok")`. */
const parse = <S extends z.ZodType>(schema: S, input: unknown, what: 'parameter' | 'field'): z.infer<S> => {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const source = (input ?? {}) as Record<string, unknown>;
  const issues = result.error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ [what]: k, message: `unknown ${what} (allowed: ${Object.keys((schema as unknown as z.ZodObject).shape).join(', ')})` }))
      : [{ [what]: i.path.join('.') || '(body)', message: `${i.message}${source[String(i.path[0])] !== undefined ? ` (got ${JSON.stringify(source[String(i.path[0])])})` : ''}` }],
  );
  throw new BadRequestException({
    statusCode: 400,
    error: 'Bad Request',
    code: 'VERIFY.INVALID_REQUEST',
    message: issues.map((i) => `${i[what]}: ${i.message}`).join('; '),
    [what === 'parameter' ? 'parameters' : 'fields']: issues,
  });
};

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
 * `GET /verifications/coverage` says when every retained backup was last verified and whether it
 * is overdue for the scrub period; `POST /verifications {backupId}` re-verifies now (trigger
 * `manual`), 202 with the verification to follow at its link.
 */
@Controller('verifications')
export class VerificationsController {
  constructor(
    @Inject(STORE) private readonly store: VerificationStore,
    private readonly verifications: VerificationService,
    @Inject(SERVICE_CONFIG) private readonly env: VerifierEnv,
  ) {}

  @Get()
  async list(@Query() query: unknown) {
    const q = parse(ListQuery, query, 'parameter');
    return { verifications: (await this.store.list(q)).map(view) };
  }

  @Get('coverage')
  async coverage(@Query() query: unknown) {
    const q = parse(CoverageQuery, query, 'parameter');
    const now = Date.now();
    const period = this.env.VERIFIER_SCRUB_PERIOD;
    const backups = (await this.store.retained(q.resource)).map((b) => {
      const last = b.lastVerifiedAt ? Date.parse(b.lastVerifiedAt) : null;
      const dueBy = new Date((last ?? Date.parse(b.receivedAt)) + period).toISOString();
      return {
        backupId: b.backupId,
        resource: b.resource,
        recoveryPoint: b.recoveryPoint,
        lastVerifiedAt: b.lastVerifiedAt,
        lastVerdict: b.lastVerdict,
        lastTrigger: b.lastTrigger,
        lastVerificationId: b.lastVerificationId,
        dueBy,
        overdue: last === null ? now - Date.parse(b.receivedAt) > period : now - last > period,
      };
    });
    const verified = backups.filter((b) => b.lastVerifiedAt && !b.overdue);
    return {
      generatedAt: new Date(now).toISOString(),
      period: formatDuration(period),
      periodMs: period,
      scrubbing: this.env.VERIFIER_SCRUB === 'on' ? { every: formatDuration(this.env.VERIFIER_SCRUB_EVERY) } : null,
      retained: backups.length,
      verifiedWithinPeriod: verified.length,
      notPassed: backups.filter((b) => b.lastVerdict && b.lastVerdict !== 'passed').length,
      neverVerified: backups.filter((b) => !b.lastVerifiedAt).length,
      overdue: backups.filter((b) => b.overdue).length,
      backups,
    };
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    const row = uuid.safeParse(id).success ? await this.store.verification(id) : null;
    if (!row) throw new NotFoundException({ statusCode: 404, error: 'Not Found', code: 'VERIFY.NOT_FOUND', message: `no verification ${id}` });
    return view(row);
  }

  @Post()
  @HttpCode(202)
  async request(@Body() body: unknown) {
    const { backupId } = parse(VerifyBody, body, 'field');
    try {
      return view(await this.verifications.requestManual(backupId));
    } catch (error) {
      if (error instanceof BackupNotFoundError) throw new NotFoundException({ statusCode: 404, error: 'Not Found', code: error.code, message: error.message });
      if (error instanceof BackupExpiredError) throw new ConflictException({ statusCode: 409, error: 'Conflict', code: error.code, message: error.message });
      if (error instanceof VerificationRunningError) {
        throw new ConflictException({ statusCode: 409, error: 'Conflict', code: error.code, message: error.message, verificationId: error.verificationId, links: { running: `/verifications/${error.verificationId}` } });
      }
      throw error;
    }
  }
}
