import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DomainError } from '@continuity/contracts';
import { SERVICE_CONFIG } from '@continuity/runtime';
import type { AuditConfig } from '../config/audit.config.js';
import { sloTargetsOf } from '../resource-state/slo-targets.js';
import { contactsFor, routesFor, type NotificationSettings } from '../notifications/notification.config.js';
import { NOTIFICATION_SETTINGS } from '../notifications/notification.settings.js';
import { buildPlan, ContinuityPlan } from './continuity-plan.js';
import { readLedgerEvidence } from './plan.evidence.js';

export class UnknownResourceError extends DomainError {
  constructor(resource: string) {
    super('AUDIT.RESOURCE_UNKNOWN', `the ledger holds nothing about ${resource} and no notification route or contact names it`, 404, { resource });
  }
}

/** Gathers a resource's plan from configuration and the ledger. */
@Injectable()
export class PlanService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(SERVICE_CONFIG) private readonly config: AuditConfig,
    @Inject(NOTIFICATION_SETTINGS) private readonly settings: NotificationSettings,
  ) {}

  async plan(resource: string, now = new Date()): Promise<ContinuityPlan> {
    const evidence = await readLedgerEvidence((sql, params) => this.dataSource.query(sql, params), resource);
    const contacts = contactsFor(this.settings, resource);
    const routes = routesFor(this.settings, resource);
    if (!evidence.state && !evidence.lastDrill && contacts.length === 0 && routes.length === 0) throw new UnknownResourceError(resource);
    return buildPlan({ resource, generatedAt: now.toISOString(), targets: sloTargetsOf(this.config), contacts, routes, ...evidence, failoverUrl: this.config.AUDIT_FAILOVER_URL });
  }
}
