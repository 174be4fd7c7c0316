import { Controller, Get, Inject, Query } from '@nestjs/common';
import { z } from 'zod';
import { parseRequest, SERVICE_CONFIG } from '@continuity/runtime';
import { STORE, WAL_STORE } from '../tokens.js';
import type { WalStore } from '../wal/wal.store.js';
import type { VerifierEnv } from '../verifier.env.js';
import { INVALID_REQUEST, resourceParam } from '../verification/verification.requests.js';
import type { VerificationStore } from '../verification/verification.store.js';
import { coverageReport } from './coverage.js';

const CoverageQuery = z.strictObject({ resource: resourceParam.optional() });

/**
 * `GET /verifications/coverage`: when every retained backup was last verified and whether it is
 * overdue for the scrub period. Registered before the verifications controller, so that its
 * `GET /verifications/:id` does not take `coverage` for an id.
 */
@Controller('verifications')
export class CoverageHttpController {
  constructor(
    @Inject(STORE) private readonly store: VerificationStore,
    @Inject(SERVICE_CONFIG) private readonly env: VerifierEnv,
    @Inject(WAL_STORE) private readonly wal: WalStore,
  ) {}

  @Get('coverage')
  async coverage(@Query() query: unknown) {
    const { resource } = parseRequest(CoverageQuery, query, { part: 'query', code: INVALID_REQUEST });
    const walFiles = (await this.wal.allFiles()).filter((f) => !resource || f.resource === resource);
    return coverageReport(
      await this.store.retained(resource),
      { now: Date.now(), period: this.env.VERIFIER_SCRUB_PERIOD, scrubEvery: this.env.VERIFIER_SCRUB === 'on' ? this.env.VERIFIER_SCRUB_EVERY : null },
      walFiles,
    );
  }
}
