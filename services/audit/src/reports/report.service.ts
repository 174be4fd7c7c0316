import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig } from '../config/audit.config.js';
import { TamperCheckService } from '../integrity/tamper-check.service.js';
import { LedgerEntry, ResourceState } from '../resource-state/resource-state.projection.js';
import { riskPolicyOf, sloTargetsOf } from '../resource-state/slo-targets.js';
import { readStoredEntry } from '../resource-state/stored-entry.js';
import { TreeHeadsService } from '../signing/tree-heads.service.js';
import { buildContinuityReport } from './continuity-report.js';
import { renderContinuityReportHtml } from './continuity-report.html.js';
import { buildEstate } from './estate.js';
import { renderEstateHtml, renderProtectionFacts } from './estate.html.js';

const CHUNK = 5_000;

/** Computes the continuity report from the ledger as covered by the latest signed head. */
@Injectable()
export class ReportService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
    private readonly heads: TreeHeadsService,
    private readonly tamperCheck: TamperCheckService,
  ) {}

  async continuity(from: Date, to: Date, now = new Date()) {
    const head = await this.heads.latest();
    const entries: LedgerEntry[] = [];
    const size = head?.treeSize ?? 0;
    for (let start = 0; start < size; start += CHUNK) {
      const rows = await this.dataSource.query(
        // Events from a source that may not publish them are in the ledger, not in the report.
        'select log_index, recorded_at, envelope from audit.log_entries where log_index >= $1 and log_index < $2 and occurred_at < $3 and untrusted is null order by log_index',
        [start, Math.min(size, start + CHUNK), to.toISOString()],
      );
      for (const row of rows) {
        entries.push(readStoredEntry(row));
      }
    }
    const report = buildContinuityReport(entries, { from, to }, now, sloTargetsOf(this.config));
    const { last: integrity, failure } = this.tamperCheck;
    // The estate comes from the stored projections (current state), not from folding the log.
    const states: { state: ResourceState }[] = await this.dataSource.query('select state from audit.resource_states order by resource');
    const estate = buildEstate(states.map((r) => r.state), now, riskPolicyOf(this.config));
    return { estate, ...report, signedHead: head, integrity: integrity || failure ? { intact: integrity?.intact ?? null, checkedAt: integrity?.checkedAt ?? null, findings: integrity?.findings ?? [], ...(failure ? { failedToRun: failure } : {}) } : null };
  }

  async continuityHtml(from: Date, to: Date, now = new Date()) {
    const report = await this.continuity(from, to, now);
    const perResource = new Map(report.estate.rows.map((r) => [r.resource, renderProtectionFacts(r)]));
    return renderContinuityReportHtml(report, report.signedHead, report.integrity, now, { html: renderEstateHtml(report.estate), perResource });
  }
}
