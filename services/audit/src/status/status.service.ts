import { Inject, Injectable } from '@nestjs/common';
import { SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig } from '../config/audit.config.js';
import { HistoryService } from '../history/history.service.js';
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
  ) {}

  async view(now = new Date()): Promise<StatusView> {
    const [states, head] = await Promise.all([this.history.currentStates(), this.heads.latestCached()]);
    return statusView({
      states,
      now,
      targets: sloTargetsOf(this.config),
      head,
      // The risk register (RiskIdentified/RiskResolved) is not projected in this service yet: when
      // it is, pass its open risks here and the page shows them (null leaves the section out).
      risks: null,
      tracesUrl: this.config.AUDIT_TRACES_URL ?? null,
    });
  }
}
