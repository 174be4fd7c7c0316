import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { metrics, type ObservableGauge } from '@opentelemetry/api';
import type { DataSource } from 'typeorm';
import { SERVICE_CONFIG } from '@continuity/runtime';
import type { AuditConfig } from '../config/audit.config.js';
import type { ResourceState } from '../resource-state/resource-state.projection.js';
import { sloTargetsOf } from '../resource-state/slo-targets.js';
import { AUDIT_GAUGES, ledgerSamples, resourceSamples } from './estate.metrics.js';

/** Label cardinality stays bounded even if events name many resources: the first ones by name are reported. */
export const MAX_REPORTED_RESOURCES = 500;

/**
 * The estate's gauges (see `METRICS` in @continuity/telemetry), computed at scrape time from the
 * resource-state projections and the ledger: three small queries per scrape, nothing kept in
 * memory, so every audit instance reports the same values. A scrape while PostgreSQL is down
 * reports none of them (a gap, which `absent()` alerts see), never stale ones.
 */
@Injectable()
export class EstateMetrics implements OnModuleInit {
  private readonly logger = new Logger(EstateMetrics.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
  ) {}

  onModuleInit() {
    const meter = metrics.getMeter('@continuity/audit');
    const gauges = new Map<string, ObservableGauge>(AUDIT_GAUGES.map((m) => [m.name, meter.createObservableGauge(m.instrument, { description: m.help })]));
    const targets = sloTargetsOf(this.config);
    meter.addBatchObservableCallback(async (result) => {
      let states: ResourceState[];
      let ledger: Parameters<typeof ledgerSamples>[0];
      try {
        [states, ledger] = await Promise.all([this.states(), this.ledger()]);
      } catch (error) {
        this.logger.debug(`metrics: cannot read the projections: ${(error as Error).message}`);
        return;
      }
      const now = Date.now();
      for (const sample of [...states.flatMap((s) => resourceSamples(s, now, targets)), ...ledgerSamples(ledger, now)]) {
        result.observe(gauges.get(sample.metric.name)!, sample.value, sample.attributes);
      }
    }, [...gauges.values()]);
  }

  private async states(): Promise<ResourceState[]> {
    const rows: { state: ResourceState }[] = await this.dataSource.query('select state from audit.resource_states order by resource limit $1', [MAX_REPORTED_RESOURCES]);
    return rows.map((r) => r.state);
  }

  private async ledger() {
    const [size]: { entries: string }[] = await this.dataSource.query('select coalesce(max(log_index) + 1, 0) as entries from audit.log_entries');
    const [head]: { tree_size: string; timestamp: string }[] = await this.dataSource.query('select tree_size, timestamp from audit.tree_heads order by tree_size desc limit 1');
    return { entries: Number(size?.entries ?? 0), signedHead: head ? { treeSize: Number(head.tree_size), timestamp: head.timestamp } : null };
  }
}
