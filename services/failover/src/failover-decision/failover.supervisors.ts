import { METRICS } from '@continuity/telemetry';
import { standbyLag } from '../probing/standby-lag.js';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { type Histogram, metrics } from '@opentelemetry/api';
import type { ContinuityPublisher, Topology } from '@continuity/contracts';
import { NATS_CONNECTION, PUBLISHER, ReadinessChecks, SERVICE_CONFIG, TOPOLOGY } from '@continuity/runtime';
import type { FailoverSettings } from '../config/failover-config.loader.js';
import { FailoverStore } from '../coordination/failover-store.js';
import type { FailoverEnv } from '../failover.env.js';
import type { RouteRecord } from '@continuity/contracts';
import { NoPrimaryError, NotPrimaryError, SwitchoverRejectedError, UnknownMemberError, UnknownResourceError } from './failover.errors.js';
import { CheckAnswer, primaryCheck, replicaCheck } from '../load-balancer/member-checks.js';
import type { CompletedFailover } from './failover-attempt.js';
import { ResourceSupervisor } from './resource-supervisor.js';

export const FAILOVER_SETTINGS = Symbol('FAILOVER_SETTINGS');

/**
 * One supervisor per configured resource, started once the app is up and stopped (lease released,
 * so another instance takes over at once) before the runtime closes NATS.
 */
@Injectable()
export class FailoverSupervisors implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Failover');
  private readonly supervisors = new Map<string, ResourceSupervisor>();
  private store: FailoverStore | null = null;
  private readonly rto: Histogram;
  readonly instanceId: string;
  private readonly replicas: number;

  constructor(
    @Inject(FAILOVER_SETTINGS) private readonly settings: FailoverSettings,
    @Inject(SERVICE_CONFIG) env: FailoverEnv,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(PUBLISHER) private readonly publisher: ContinuityPublisher,
    @Inject(TOPOLOGY) private readonly topology: Topology,
    readiness: ReadinessChecks,
  ) {
    this.replicas = env.NATS_REPLICAS;
    this.instanceId = env.FAILOVER_INSTANCE_ID ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
    readiness.register('failover', async () =>
      this.settings.resources.length === 0 || this.store ? { status: 'up' } : { status: 'down', error: 'failover KV buckets not open yet' },
    );
    // Made here, not at import: instruments created before telemetry starts stay no-ops.
    const meter = metrics.getMeter('@continuity/failover');
    this.rto = meter.createHistogram(METRICS.failoverRto.instrument, {
      description: 'first failed probe (or request) → writable and routed',
      unit: 'ms',
      // Around the usual 30 s RTO target: the default buckets stop at 10 s.
      advice: { explicitBucketBoundaries: [1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 30_000, 45_000, 60_000, 120_000, 300_000] },
    });
    meter.createObservableGauge(METRICS.standbyLag.instrument, { description: METRICS.standbyLag.help }).addCallback((result) => {
      for (const s of this.supervisors.values()) {
        const status = s.status();
        for (const lag of standbyLag(status.primary, status.members)) result.observe(lag.bytes, { resource: s.resource, member: lag.member });
      }
    });
    meter.createObservableGauge('continuity_failover_leader', { description: '1 when this instance holds the resource’s lease' }).addCallback((result) => {
      for (const s of this.supervisors.values()) result.observe(s.isLeader() ? 1 : 0, { resource: s.resource });
    });
    meter.createObservableGauge('continuity_failover_epoch', { description: 'fencing epoch of the resource as this instance knows it' }).addCallback((result) => {
      for (const s of this.supervisors.values()) result.observe(s.status().epoch, { resource: s.resource });
    });
    meter.createObservableGauge('continuity_failover_primary_failed_probes', { description: 'consecutive failed probes of the primary' }).addCallback((result) => {
      for (const s of this.supervisors.values()) result.observe(s.status().consecutiveFailures, { resource: s.resource });
    });
  }


  async onApplicationBootstrap(): Promise<void> {
    if (this.settings.resources.length === 0) {
      this.logger.log(
        this.settings.file
          ? `${this.settings.file} has no resources under failover.resources: nothing to watch`
          : 'CONTINUITY_CONFIG is not set: no resources to watch (point it at a YAML file with a failover: section)',
      );
      return;
    }
    this.store = await FailoverStore.open(this.nc, this.topology.namespace, this.settings.leaseTtlMs, this.replicas);
    for (const resource of this.settings.resources) {
      const supervisor = new ResourceSupervisor({
        settings: resource,
        store: this.store,
        publisher: this.publisher,
        instanceId: this.instanceId,
        logger: this.logger,
        onCompleted: (name, completed) => this.rto.record(completed.rtoMs, { resource: name, planned: String(completed.planned) }),
      });
      await supervisor.start();
      this.supervisors.set(resource.resource, supervisor);
    }
    this.logger.log(
      `instance ${this.instanceId} watching ${this.settings.resources.map((r) => `${r.resource} (${r.members.length} members, ${r.decider.mode}, probe every ${r.decider.probeIntervalMs} ms, failover after ${r.decider.failuresBeforeFailover} failures)`).join(', ')}; lease TTL ${this.store.leaseTtlMs} ms`,
    );
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all([...this.supervisors.values()].map((s) => s.stop().catch((error: Error) => this.logger.warn(`${s.resource}: stop: ${error.message}`))));
    this.supervisors.clear();
  }

  get(resource: string): ResourceSupervisor {
    const supervisor = this.supervisors.get(resource);
    if (!supervisor) throw new UnknownResourceError(resource, [...this.supervisors.keys()]);
    return supervisor;
  }

  all(): ResourceSupervisor[] {
    return [...this.supervisors.values()];
  }

  /** One resource as this instance sees it, with who holds its lease. */
  async describe(resource: string) {
    const supervisor = this.get(resource);
    return { ...supervisor.status(), leaseHolder: (await supervisor.leaseHolder().catch(() => null))?.holder ?? null };
  }

  /**
   * The route record; NoPrimaryError when there is none (yet). With `member`, NotPrimaryError unless
   * that member is the primary: what a load balancer's health check asks.
   */
  async primary(resource: string, member?: string): Promise<RouteRecord> {
    const route = this.store ? await this.store.readRoute(resource) : null;
    if (!route) throw new NoPrimaryError(resource);
    if (member !== undefined && route.record.primary !== member) throw new NotPrimaryError(resource, member, route.record);
    return route.record;
  }

  /**
   * A load balancer's check of one member: `primary` (the routed, writable primary) or `replica` (a
   * standby streaming from it within `maxLagBytes`). Never throws for an unhealthy member: answers.
   */
  async memberCheck(resource: string, member: string, kind: 'primary' | 'replica', maxLagBytes: number): Promise<CheckAnswer> {
    // Open to anyone (like health): an unknown resource answers as an unknown member does, without
    // listing what is watched.
    const view = this.supervisors.get(resource)?.memberView();
    if (!view || !view.members.includes(member)) throw new UnknownMemberError(resource, member);
    const route = this.store ? await this.store.readRoute(resource).catch(() => null) : null;
    const input = { member, routedPrimary: route?.record.primary ?? null, observations: view.observations, nowMs: Date.now(), maxProbeAgeMs: Math.max(3 * view.probeIntervalMs, 2_000) };
    return kind === 'primary' ? primaryCheck(input) : replicaCheck({ ...input, maxLagBytes });
  }

  /** A planned switchover; SwitchoverRejectedError when the decider refuses it, saying why. */
  async switchover(resource: string, to: string): Promise<CompletedFailover> {
    const result = await this.get(resource).switchover(to);
    if ('type' in result) throw new SwitchoverRejectedError(result.code, result.reason);
    return result;
  }

  memberRebuilt(resource: string, member: string): Promise<RouteRecord> {
    return this.get(resource).memberRebuilt(member);
  }
}
