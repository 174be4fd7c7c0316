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

/** Changed projections read per query: up to ~1 MB (pg parses each row as it arrives). */
const READ_PAGE = 10;

/** Resources judged per turn of the event loop: each takes a fraction of a millisecond. */
const JUDGE_SLICE = 5;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A projection row's version: the transaction that wrote it and the ledger position it folds to.
 * xmin alone can come back for another write (transaction ids handed out again after the database
 * was restored or failed over to a standby that had not seen them); with the log index and entry
 * count, a reused id would also have to fold to the same position.
 */
const VERSION = "xmin::text || ':' || log_index::text || ':' || entry_count::text";

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
 *
 * Each pass judges every resource against the clock, but reads again only the projections whose
 * row changed since it last read them (`VERSION`: the row's `xmin`, which every update or rebuild
 * replaces, with the ledger position it folds to): a projection is tens of kB of JSON, and parsing the whole estate's every few
 * seconds was most of the process's work and garbage, which held HTTP reads behind it. The
 * writer keeps the estate's parsed projections for that (about 80 kB each); a standby keeps none.
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
  /** The estate's projections as last read, with the row version they were read at. */
  private readonly estate = new Map<string, { version: string; state: ResourceState }>();

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
    // A lease lost and regained between two passes: what was kept may be another writer's past.
    this.lease.onChange(() => this.estate.clear());
    const every = this.config.AUDIT_EVALUATE_INTERVAL_MS;
    if (every > 0) this.timer = setInterval(() => void this.evaluate(), every);
  }

  onModuleDestroy() {
    clearInterval(this.timer);
    this.estate.clear();
  }

  /**
   * Brings `estate` up to date with the stored projections: lists every row's version (a few
   * bytes each) and reads, a page at a time, only the projections whose version changed.
   */
  private async refreshEstate(): Promise<void> {
    const listed: { resource: string; version: string }[] = await this.dataSource.query(`select resource, ${VERSION} as version from audit.resource_states`);
    const present = new Set<string>();
    const changed: string[] = [];
    for (const { resource, version } of listed) {
      present.add(resource);
      if (this.estate.get(resource)?.version !== version) changed.push(resource);
    }
    for (const resource of this.estate.keys()) if (!present.has(resource)) this.estate.delete(resource);
    for (let i = 0; i < changed.length; i += READ_PAGE) {
      const rows: { resource: string; version: string; state: ResourceState }[] = await this.dataSource.query(
        `select resource, ${VERSION} as version, state from audit.resource_states where resource = any($1::text[])`,
        [changed.slice(i, i + READ_PAGE)],
      );
      for (const { resource, version, state } of rows) this.estate.set(resource, { version, state });
    }
  }

  /** One pass over every resource; returns how many events it published. */
  async evaluate(now = new Date()): Promise<number> {
    if (!this.lease.isWriter) this.estate.clear(); // a standby judges nothing, so holds nothing
    if (!this.lease.isWriter || this.running) return 0;
    this.running = true;
    let published = 0;
    try {
      for (const [id, at] of this.recent) if (now.getTime() - at > RECENT_MS) this.recent.delete(id);
      const targets = sloTargetsOf(this.config);
      const policy = riskPolicyOf(this.config);
      const epoch = (state: ResourceState) => Date.parse(state.trackedSince);
      const observed = new Map<string, { rpoExposureMs: number | null; openRisks: number }>();
      await this.refreshEstate();
      const states = [...this.estate.values()]
        .map((e) => e.state)
        .filter((state) => state.protection !== undefined)
        .sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0));
      // In slices, handing the event loop back in between: judging a whole estate at once would
      // hold every HTTP read behind it for as long as it takes.
      for (let i = 0; i < states.length; i++) {
        if (i > 0 && i % JUDGE_SLICE === 0) await nextTurn();
        const state = states[i]!;
        const resource = state.resource;
        const measured = measureSlos(state, now, targets);
        const findings = evaluateRisks(state, now, policy);
        observed.set(resource, { rpoExposureMs: measured.find((m) => m.kind === 'rpo')?.measured ?? null, openRisks: findings.length });
        const slo = decideSlos(state, now, targets, measured);
        const risks = decideRisks(state, now, policy, findings);
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
