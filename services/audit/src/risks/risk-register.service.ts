import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig } from '../config/audit.config.js';
import type { ResourceState } from '../resource-state/resource-state.projection.js';
import { riskPolicyOf } from '../resource-state/slo-targets.js';
import { evaluateRisks } from './risk-rules.js';

const SEVERITY_ORDER = ['critical', 'high', 'medium', 'low'];

/** The risk register now: every rule over every stored projection (no log fold), with the ledger's open risk ids. */
@Injectable()
export class RiskRegisterService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
  ) {}

  async list(filter: { resource?: string; severity?: string }, now = new Date()) {
    const read: { state: ResourceState }[] = filter.resource
      ? await this.dataSource.query(`select state from audit.resource_states where resource = $1`, [filter.resource])
      : await this.dataSource.query(`select state from audit.resource_states order by resource`);
    // Filtered here, not in SQL: states are `json`, which PostgreSQL would parse once more to look inside.
    const rows = read.filter(({ state }) => state.protection !== undefined);
    const policy = riskPolicyOf(this.config);
    const risks = rows.flatMap(({ state }) => {
      const open = state.protection?.openRisks ?? {};
      return evaluateRisks(state, now, policy).map((f) => ({ resource: state.resource, ...f, riskId: open[f.rule]?.id ?? null, openSince: open[f.rule]?.since ?? null }));
    });
    const wanted = filter.severity ? SEVERITY_ORDER.slice(0, SEVERITY_ORDER.indexOf(filter.severity) + 1) : SEVERITY_ORDER;
    return {
      at: now.toISOString(),
      risks: risks.filter((r) => wanted.includes(r.severity)).sort((a, b) => SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity)),
    };
  }
}
