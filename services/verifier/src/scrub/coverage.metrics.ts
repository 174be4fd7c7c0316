import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { metrics } from '@opentelemetry/api';
import { SERVICE_CONFIG } from '@continuity/runtime';
import { METRICS } from '@continuity/telemetry';
import { STORE } from '../tokens.js';
import type { VerifierEnv } from '../verifier.env.js';
import type { VerificationStore } from '../verification/verification.store.js';
import { coverageByResource } from './coverage.js';

/**
 * `continuity_scrub_coverage_ratio` and `continuity_scrub_overdue_backups` per resource, computed
 * at scrape time from the verifier's table of retained backups (the same rows `GET
 * /verifications/coverage` reports). A scrape while PostgreSQL is down reports nothing.
 */
@Injectable()
export class ScrubCoverageMetrics implements OnModuleInit {
  constructor(
    @Inject(SERVICE_CONFIG) private readonly env: VerifierEnv,
    @Inject(STORE) private readonly store: VerificationStore,
  ) {}

  onModuleInit() {
    const meter = metrics.getMeter('@continuity/verifier');
    const coverage = meter.createObservableGauge(METRICS.scrubCoverage.instrument, { description: METRICS.scrubCoverage.help });
    const overdue = meter.createObservableGauge(METRICS.scrubOverdue.instrument, { description: METRICS.scrubOverdue.help });
    meter.addBatchObservableCallback(async (result) => {
      const rows = await this.store.retained().catch(() => null);
      if (!rows) return;
      for (const r of coverageByResource(rows, { now: Date.now(), period: this.env.VERIFIER_SCRUB_PERIOD })) {
        result.observe(coverage, r.ratio, { resource: r.resource });
        result.observe(overdue, r.overdue, { resource: r.resource });
      }
    }, [coverage, overdue]);
  }
}
