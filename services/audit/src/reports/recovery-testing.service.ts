import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig } from '../config/audit.config.js';
import type { LedgerEntry } from '../resource-state/resource-state.projection.js';
import { sloTargetsOf } from '../resource-state/slo-targets.js';
import { readStoredEntry } from '../resource-state/stored-entry.js';
import { TreeHeadsService } from '../signing/tree-heads.service.js';
import type { SignedTreeHead } from '@continuity/contracts/ledger';
import { buildRecoveryTestingReport, RecoveryTestingReport } from './recovery-testing.js';
import { renderRecoveryTestingHtml } from './recovery-testing.html.js';
import { renderPdf } from './recovery-testing.pdf.js';

const CHUNK = 5_000;
/** The only event types the report reads (through the `type` index), never the whole log. */
const TYPES = ['BackupCreated', 'DrillCompleted', 'IntegrityVerified'];

/** The recovery-testing report from the ledger as covered by the latest signed head: JSON, HTML, PDF. */
@Injectable()
export class RecoveryTestingReportService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
    private readonly heads: TreeHeadsService,
  ) {}

  async json(from: Date, to: Date): Promise<RecoveryTestingReport & { signedHead: SignedTreeHead | null }> {
    const head = await this.heads.latest();
    const entries: LedgerEntry[] = [];
    const size = head?.treeSize ?? 0;
    for (let start = 0; start < size; start += CHUNK) {
      const rows = await this.dataSource.query(
        // Events from a source that may not publish them are in the ledger, not in the report.
        `select log_index, recorded_at, envelope from audit.log_entries
          where log_index >= $1 and log_index < $2 and type = any($3) and occurred_at < $4 and untrusted is null order by log_index`,
        [start, Math.min(size, start + CHUNK), TYPES, to.toISOString()],
      );
      for (const row of rows) entries.push(readStoredEntry(row));
    }
    return { ...buildRecoveryTestingReport(entries, { from, to }, sloTargetsOf(this.config)), signedHead: head };
  }

  async html(from: Date, to: Date): Promise<string> {
    const report = await this.json(from, to);
    return renderRecoveryTestingHtml(report, report.signedHead);
  }

  async pdf(from: Date, to: Date): Promise<Buffer> {
    return renderPdf(await this.html(from, to), { chromium: this.config.CHROMIUM_PATH });
  }
}
