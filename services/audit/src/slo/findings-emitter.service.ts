import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { metrics } from '@opentelemetry/api';
import { ContinuityPublisher } from '@continuity/contracts';
import { PUBLISHER, SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig } from '../config/audit.config.js';
import { WriterLease } from '../database/writer-lease.js';
import type { ResourceState } from '../resource-state/resource-state.projection.js';
import { riskPolicyOf, sloTargetsOf } from '../resource-state/slo-targets.js';
import { findingId } from '../risks/finding-id.js';
import { decideRisks } from '../risks/risk.decider.js';
import { decideSlos, measureSlos } from './slo.decider.js';
import { evaluateRisks } from '../risks/risk-rules.js';

/** A finding published is not published again for this long while the ledger catches up with it. */
const RECENT_MS = 60_000;

/** Resources read and judged at a time: up to ~1 MB of projections, parsed in a few milliseconds. */
const EVALUATE_PAGE = 10;

/**
 * Judges every resource's SLOs and risks against the clock every AUDIT_EVALUATE_INTERVAL_MS and
 * publishes what changed (SloBreached/SloRestored, RiskIdentified/RiskResolved) through the
 * normal publisher; the ledger records them like any event and folds them into the projection.
 *
 * Delivery guarantees: only the instance holding the ledger writer lease evaluates (one emitter).
 * What is open is read from the projection, i.e. from the ledger, never from memory; every
 * finding's event id is derived from the resource, the kind or rule and the count of earlier
 * ones, so a restart, a lease hand-over or two instances briefly both evaluating publish the same
 * ids, which JetStream (Nats-Msg-Id) and the ledger (unique event id) drop as duplicates. A failed
 * publish is simply tried again on the next tick (the decision is recomputed from the state).
 */
@Injectable()
export class FindingsEmitter implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(FindingsEmitter.name);
  private timer?: NodeJS.Timeout;
  private running = false;
  /** Event ids published recently: the projection learns of them only once the ledger folds them. */
  private readonly recent = new Map<string, number>();
  /** Per resource, as of the last pass: for the gauges on /metrics. */
  private observed = new Map<string, { rpoExposureMs: number | null; openRisks: number }>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
    @Inject(PUBLISHER) private readonly publisher: ContinuityPublisher,
    private readonly lease: WriterLease,
  ) {
    // Made here, not at import: instruments created before telemetry starts stay no-ops.
    const meter = metrics.getMeter('@continuity/audit');
    meter.createObservableGauge('continuity_rpo_exposure', { description: 'now − the newest recoverable moment, as of the last evaluation (writer only)', unit: 'ms' }).addCallback((result) => {
      for (const [resource, o] of this.observed) if (o.rpoExposureMs !== null) result.observe(o.rpoExposureMs, { resource });
    });
    meter.createObservableGauge('continuity_risks_open', { description: 'risk-register findings for the resource, as of the last evaluation (writer only)' }).addCallback((result) => {
      for (const [resource, o] of this.observed) result.observe(o.openRisks, { resource });
    });
  }

  onModuleInit() {
    const every = this.config.AUDIT_EVALUATE_INTERVAL_MS;
    if (every > 0) this.timer = setInterval(() => void this.evaluate(), every);
  }

  onModuleDestroy() {
    clearInterval(this.timer);
  }

  /** One pass over every resource; returns how many events it published. */
  async evaluate(now = new Date()): Promise<number> {
    if (!this.lease.isWriter || this.running) return 0;
    this.running = true;
    let published = 0;
    try {
      for (const [id, at] of this.recent) if (now.getTime() - at > RECENT_MS) this.recent.delete(id);
      const targets = sloTargetsOf(this.config);
      const policy = riskPolicyOf(this.config);
      const epoch = (state: ResourceState) => Date.parse(state.trackedSince);
      const observed = new Map<string, { rpoExposureMs: number | null; openRisks: number }>();
      // In pages: each projection is tens of kB of JSON, and parsing a whole estate's at once would
      // hold the event loop (every HTTP read behind it) for as long as it takes.
      for (let after = ''; ; ) {
        const rows: { resource: string; state: ResourceState }[] = await this.dataSource.query(
          'select resource, state from audit.resource_states where state ? $1 and resource > $2 order by resource limit $3',
          ['protection', after, EVALUATE_PAGE],
        );
        for (const { state } of rows) {
          observed.set(state.resource, { rpoExposureMs: measureSlos(state, now, targets).find((m) => m.kind === 'rpo')?.measured ?? null, openRisks: evaluateRisks(state, now, policy).length });
        }
        for (const { state } of rows) {
          const slo = decideSlos(state, now, targets);
          const risks = decideRisks(state, now, policy);
          const resource = state.resource;
          for (const data of slo.breach) published += await this.send(now, data.breachId, () => this.publisher.publish('SloBreached', { resource, data, id: data.breachId, occurredAt: now }));
          for (const data of slo.restore) {
            const id = findingId(`restored|${data.breachId}`, epoch(state));
            published += await this.send(now, id, () => this.publisher.publish('SloRestored', { resource, data, id, occurredAt: now, causationId: data.breachId }));
          }
          for (const data of risks.identify) published += await this.send(now, data.riskId, () => this.publisher.publish('RiskIdentified', { resource, data, id: data.riskId, occurredAt: now }));
          for (const data of risks.resolve) {
            const id = findingId(`resolved|${data.riskId}`, epoch(state));
            published += await this.send(now, id, () => this.publisher.publish('RiskResolved', { resource, data, id, occurredAt: now, causationId: data.riskId }));
          }
        }
        if (rows.length < EVALUATE_PAGE) break;
        after = rows[rows.length - 1]!.resource;
      }
      this.observed = observed;
    } catch (error) {
      this.logger.warn(`evaluating SLOs and risks failed, will try again: ${(error as Error).message}`);
    } finally {
      this.running = false;
    }
    return published;
  }

  private async send(now: Date, id: string, publish: () => Promise<unknown>): Promise<number> {
    if (this.recent.has(id)) return 0;
    await publish();
    this.recent.set(id, now.getTime());
    return 1;
  }
}
