import { Inject, Injectable } from '@nestjs/common';
import { SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig } from '../config/audit.config.js';
import { HistoryService } from '../history/history.service.js';
import { RiskRegisterService } from '../risks/risk-register.service.js';
import { sloTargetsOf } from '../resource-state/slo-targets.js';
import { TreeHeadsService } from '../signing/tree-heads.service.js';
import { statusView, StatusView } from './status-view.js';

/** Reads what the status page shows: the current projections and the latest signed head. */
@Injectable()
export class StatusService {
  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
    private readonly history: HistoryService,
    private readonly heads: TreeHeadsService,
    private readonly riskRegister: RiskRegisterService,
  ) {}

  async view(now = new Date()): Promise<StatusView> {
    const [states, head, register] = await Promise.all([this.history.currentStates(), this.heads.latestCached(), this.riskRegister.list({}, now)]);
    return statusView({
      states,
      now,
      targets: sloTargetsOf(this.config),
      head,
      // The risk register now, worst first (a finding not yet announced is open since now).
      risks: register.risks.map((r) => ({ resource: r.resource, rule: r.rule, severity: r.severity, detail: r.summary, since: r.openSince ?? register.at })),
      tracesUrl: this.config.AUDIT_TRACES_URL ?? null,
    });
  }
}
