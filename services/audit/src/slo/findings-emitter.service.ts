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
import { decideSlos, measureSlos, nextSloChange, rpoSince } from './slo.decider.js';
import { evaluateRisks, nextRiskChange } from '../risks/risk-rules.js';

/** A finding published is not published again for this long while the ledger catches up with it. */
const RECENT_MS = 60_000;

/** Projections read per query: up to ~1 MB (pg parses each row as it arrives). */
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

/** What the emitter keeps of a resource between passes: a few numbers, not its projection. */
interface Judged {
  /** The projection row's version it was last judged at. */
  version: string;
  /** When to judge it again although its projection did not change (ms; Infinity: only when it does). */
  judgeAt: number;
  /** For the gauges: since when RPO exposure grows (null: no backups), and how many rules find something; null: not judged (no backup or replication facts). */
  gauges: { rpoSince: number | null; openRisks: number } | null;
  /** Held only while findings it published are not yet folded into its projection: judged again from it, not read again. */
  awaiting?: ResourceState;
}

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
 * A resource's findings change only when its projection changes (`VERSION`: the row's `xmin`,
 * which every update or rebuild replaces, with the ledger position it folds to) or when the clock
 * crosses a moment the rules can name in advance (`nextSloChange`, `nextRiskChange`: an RPO
 * target crossed, a drill or scrub going stale). So each pass lists the rows' versions (a few
 * bytes each) and reads and judges only the resources whose row changed, whose moment came, or
 * whose published findings the ledger has not folded yet; between passes it keeps a few numbers
 * per resource, not the projections (tens of kB of JSON each: holding and judging the whole
 * estate every few seconds was most of the process's heap, garbage-collection pauses and work,
 * and held HTTP reads behind it). A standby keeps nothing.
 */
@Injectable()
export class FindingsEmitter implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(FindingsEmitter.name);
  private timer?: NodeJS.Timeout;
  private running = false;
  /** Event ids published recently: the projection learns of them only once the ledger folds them. */
  private readonly recent = new Map<string, number>();
  /** Per judged resource, as of its last judgement. */
  private readonly judged = new Map<string, Judged>();
  /** When the last pass started: the gauges are as of then. */
  private passAt = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
    @Inject(PUBLISHER) private readonly publisher: ContinuityPublisher,
    private readonly lease: WriterLease,
  ) {
    // Made here, not at import: instruments created before telemetry starts stay no-ops.
    const meter = metrics.getMeter('@continuity/audit');
    meter.createObservableGauge('continuity_rpo_exposure', { description: 'now − the newest recoverable moment, as of the last evaluation (writer only)', unit: 'ms' }).addCallback((result) => {
      for (const [resource, { gauges }] of this.judged) if (gauges && gauges.rpoSince !== null) result.observe(Math.max(0, this.passAt - gauges.rpoSince), { resource });
    });
    meter.createObservableGauge('continuity_risks_open', { description: 'risk-register findings for the resource, as of the last evaluation (writer only)' }).addCallback((result) => {
      for (const [resource, { gauges }] of this.judged) if (gauges) result.observe(gauges.openRisks, { resource });
    });
  }

  onModuleInit() {
    // A lease lost and regained between two passes: what was kept may be another writer's past.
    this.lease.onChange(() => this.judged.clear());
    const every = this.config.AUDIT_EVALUATE_INTERVAL_MS;
    if (every > 0) this.timer = setInterval(() => void this.evaluate(), every);
  }

  onModuleDestroy() {
    clearInterval(this.timer);
    this.judged.clear();
  }

  /** One pass: judges the resources that need it (see above); returns how many events it published. */
  async evaluate(now = new Date()): Promise<number> {
    if (!this.lease.isWriter) this.judged.clear(); // a standby judges nothing, so holds nothing
    if (!this.lease.isWriter || this.running) return 0;
    this.running = true;
    let published = 0;
    try {
      const nowMs = now.getTime();
      this.passAt = nowMs;
      for (const [id, at] of this.recent) if (nowMs - at > RECENT_MS) this.recent.delete(id);
      const listed: { resource: string; version: string }[] = await this.dataSource.query(`select resource, ${VERSION} as version from audit.resource_states`);
      const versions = new Map(listed.map((r) => [r.resource, r.version]));
      for (const resource of this.judged.keys()) if (!versions.has(resource)) this.judged.delete(resource);
      const due = listed
        .filter(({ resource, version }) => {
          const last = this.judged.get(resource);
          return !last || last.version !== version || last.judgeAt <= nowMs;
        })
        .map((r) => r.resource)
        .sort();
      // In resource order, a page at a time; a state held while its findings await the ledger is not read again.
      let judgedSoFar = 0;
      for (let i = 0; i < due.length; i += READ_PAGE) {
        const page = due.slice(i, i + READ_PAGE);
        const held = page.flatMap((resource) => {
          const last = this.judged.get(resource);
          return last?.awaiting && last.version === versions.get(resource) ? [{ resource, version: last.version, state: last.awaiting }] : [];
        });
        const toRead = page.filter((resource) => !held.some((h) => h.resource === resource));
        const rows: { resource: string; version: string; state: ResourceState }[] = toRead.length
          ? await this.dataSource.query(`select resource, ${VERSION} as version, state from audit.resource_states where resource = any($1::text[])`, [toRead])
          : [];
        const states = [...held, ...rows].sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0));
        for (const { resource, version, state } of states) {
          // In slices, handing the event loop back in between: judging many at once would hold
          // every HTTP read behind it for as long as it takes.
          if (judgedSoFar > 0 && judgedSoFar % JUDGE_SLICE === 0) await nextTurn();
          judgedSoFar++;
          const { judged, count } = await this.judge(resource, version, state, now);
          this.judged.set(resource, judged);
          published += count;
        }
      }
    } catch (error) {
      this.logger.warn(`evaluating SLOs and risks failed, will try again: ${(error as Error).message}`);
    } finally {
      this.running = false;
    }
    return published;
  }

  /**
   * Judges one resource at `now`, publishes what it decides, and says when to judge it again: at
   * the next moment the clock can change its findings, or, while findings it published are not
   * in the ledger yet, when they may be published again. A failed publish throws: the resource
   * keeps its old record, so the next pass judges it again.
   */
  private async judge(resource: string, version: string, state: ResourceState, now: Date): Promise<{ judged: Judged; count: number }> {
    const p = state.protection;
    if (p === undefined) return { judged: { version, judgeAt: Infinity, gauges: null }, count: 0 };
    const targets = sloTargetsOf(this.config);
    const policy = riskPolicyOf(this.config);
    const epoch = Date.parse(state.trackedSince);
    const measured = measureSlos(state, now, targets);
    const findings = evaluateRisks(state, now, policy);
    const slo = decideSlos(state, now, targets, measured);
    const risks = decideRisks(state, now, policy, findings);
    const ids: string[] = [];
    let count = 0;
    for (const data of slo.breach) count += await this.send(now, ids, data.breachId, () => this.publisher.publish('SloBreached', { resource, data, id: data.breachId, occurredAt: now }));
    for (const data of slo.restore) {
      const id = findingId(`restored|${data.breachId}`, epoch);
      count += await this.send(now, ids, id, () => this.publisher.publish('SloRestored', { resource, data, id, occurredAt: now, causationId: data.breachId }));
    }
    for (const data of risks.identify) count += await this.send(now, ids, data.riskId, () => this.publisher.publish('RiskIdentified', { resource, data, id: data.riskId, occurredAt: now }));
    for (const data of risks.resolve) {
      const id = findingId(`resolved|${data.riskId}`, epoch);
      count += await this.send(now, ids, id, () => this.publisher.publish('RiskResolved', { resource, data, id, occurredAt: now, causationId: data.riskId }));
    }
    const times = [nextSloChange(state, now, targets), nextRiskChange(state, now, policy), ...ids.map((id) => this.recent.get(id)! + RECENT_MS + 1)];
    const judgeAt = Math.min(...times.filter((t): t is number => t !== null));
    return {
      judged: { version, judgeAt, gauges: { rpoSince: p.hasBackups ? rpoSince(state) : null, openRisks: findings.length }, ...(ids.length ? { awaiting: state } : {}) },
      count,
    };
  }

  /** Publishes unless published recently; `ids` collects the finding either way (it awaits the ledger). */
  private async send(now: Date, ids: string[], id: string, publish: () => Promise<unknown>): Promise<number> {
    ids.push(id);
    if (this.recent.has(id)) return 0;
    await publish();
    this.recent.set(id, now.getTime());
    return 1;
  }
}
