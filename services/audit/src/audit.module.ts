import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig } from './config/audit.config.js';
import { AuditLedger1764150000000 } from './database/1764150000000-audit-ledger.migration.js';
import { AuditorViews1764160000000 } from './database/1764160000000-auditor-views.migration.js';
import { SigningKeysAndInbox1764170000000 } from './database/1764170000000-signing-keys-and-inbox.migration.js';
import { UntrustedEntries1764180000000 } from './database/1764180000000-untrusted-entries.migration.js';
import { AUDIT_ENTITIES } from './database/audit.entities.js';
import { HistoryHttpController } from './history/history.http.controller.js';
import { HistoryService } from './history/history.service.js';
import { IntegrityHttpController } from './integrity/integrity.http.controller.js';
import { LedgerListener } from './ledger/ledger.listener.js';
import { LedgerProofs } from './ledger/ledger.queries.js';
import { LedgerWriter } from './ledger/ledger.writer.js';
import { WriterLease } from './database/writer-lease.js';
import { SigningKeysService } from './signing/signing-keys.service.js';
import { ProofsHttpController } from './ledger/proofs.http.controller.js';
import { TreeHeadsHttpController } from './signing/tree-heads.http.controller.js';
import { TreeHeadsService } from './signing/tree-heads.service.js';
import { TamperCheckService } from './integrity/tamper-check.service.js';
import { ReportService } from './reports/report.service.js';
import { ReportsHttpController } from './reports/reports.http.controller.js';
import { RecoveryTestingHttpController } from './reports/recovery-testing.http.controller.js';
import { RecoveryTestingReportService } from './reports/recovery-testing.service.js';
import { ProjectionRebuildService } from './resource-state/projection-rebuild.service.js';
import { ProjectionsHttpController } from './resource-state/projections.http.controller.js';
import { ExportHttpController } from './verification/export.http.controller.js';
import { RiskRegisterService } from './risks/risk-register.service.js';
import { RisksHttpController } from './risks/risks.http.controller.js';
import { FindingsEmitter } from './slo/findings-emitter.service.js';
import { StatusHttpController } from './status/status.http.controller.js';
import { StatusService } from './status/status.service.js';
import { EstateMetrics } from './metrics/estate-metrics.service.js';
import { Notifications1764280028000 } from './database/1764280028000-notifications.migration.js';
import { ProjectionsAsJson1764320050000 } from './database/1764320050000-projections-as-json.migration.js';
import { ProjectionCompression1764300033000 } from './database/1764300033000-projection-compression.migration.js';
import { NotifierListener } from './notifications/notifier.listener.js';
import { NotifierService } from './notifications/notifier.service.js';
import { NotificationStore } from './notifications/notification.store.js';
import { loadNotificationSettings, NOTIFICATION_SETTINGS } from './notifications/notification.settings.js';
import { PlanHttpController } from './plans/plan.http.controller.js';
import { PlanService } from './plans/plan.service.js';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [SERVICE_CONFIG],
      useFactory: (config: AuditConfig) => ({
        type: 'postgres',
        url: config.DATABASE_URL,
        entities: AUDIT_ENTITIES,
        migrations: [
          AuditLedger1764150000000,
          AuditorViews1764160000000,
          SigningKeysAndInbox1764170000000,
          UntrustedEntries1764180000000,
          Notifications1764280028000,
          ProjectionCompression1764300033000,
          ProjectionsAsJson1764320050000,
        ],
        migrationsTableName: 'audit_migrations',
        migrationsRun: true,
        synchronize: false,
        logging: ['error'],
      }),
    }),
  ],
  controllers: [
    LedgerListener,
    ProjectionsHttpController,
    ReportsHttpController,
    RecoveryTestingHttpController,
    IntegrityHttpController,
    TreeHeadsHttpController,
    ProofsHttpController,
    HistoryHttpController,
    ExportHttpController,
    RisksHttpController,
    StatusHttpController,
    NotifierListener,
    PlanHttpController,
  ],
  providers: [
    WriterLease,
    SigningKeysService,
    LedgerWriter,
    LedgerProofs,
    TreeHeadsService,
    HistoryService,
    TamperCheckService,
    ReportService,
    RecoveryTestingReportService,
    ProjectionRebuildService,
    RiskRegisterService,
    FindingsEmitter,
    StatusService,
    EstateMetrics,
    { provide: NOTIFICATION_SETTINGS, inject: [SERVICE_CONFIG], useFactory: loadNotificationSettings },
    NotificationStore,
    NotifierService,
    PlanService,
  ],
})
export class AuditModule {}
