import { Envelope } from './envelope.js';
import { EventRegistry } from './registry.js';
import { BackupCreatedV1Schema } from './events/backup-created.v1.js';
import { BackupCreatedV2, BackupCreatedV2Schema, upcastBackupCreatedV1 } from './events/backup-created.v2.js';
import { FailoverCompletedV1Schema } from './events/failover-completed.v1.js';
import { FailoverCompletedV2, FailoverCompletedV2Schema, upcastFailoverCompletedV1 } from './events/failover-completed.v2.js';
import { FailoverTriggeredV1Schema } from './events/failover-triggered.v1.js';
import { FailoverTriggeredV2Schema, upcastFailoverTriggeredV1 } from './events/failover-triggered.v2.js';
import { FailoverTriggeredV3, FailoverTriggeredV3Schema, upcastFailoverTriggeredV2 } from './events/failover-triggered.v3.js';
import { FailoverAbandonedV1, FailoverAbandonedV1Schema } from './events/failover-abandoned.v1.js';
import { IntegrityVerifiedV1, IntegrityVerifiedV1Schema } from './events/integrity-verified.v1.js';
import { BackupFailedV1, BackupFailedV1Schema } from './events/backup-failed.v1.js';
import { BackupExpiredV1, BackupExpiredV1Schema } from './events/backup-expired.v1.js';
import { ResourceDegradedV1, ResourceDegradedV1Schema } from './events/resource-degraded.v1.js';
import { AuditCheckpointSignedV1, AuditCheckpointSignedV1Schema } from './events/audit-checkpoint-signed.v1.js';
import { DeadLetterReplayedV1, DeadLetterReplayedV1Schema } from './events/dead-letter-replayed.v1.js';
import { AuditSigningKeyChangedV1, AuditSigningKeyChangedV1Schema } from './events/audit-signing-key-changed.v1.js';
import { RestorePerformedV1, RestorePerformedV1Schema } from './events/restore-performed.v1.js';
import { SynchronousReplicationChangedV1, SynchronousReplicationChangedV1Schema } from './events/synchronous-replication-changed.v1.js';
import { WalArchivedV1, WalArchivedV1Schema } from './events/wal-archived.v1.js';
import { SloBreachedV1, SloBreachedV1Schema } from './events/slo-breached.v1.js';
import { SloRestoredV1, SloRestoredV1Schema } from './events/slo-restored.v1.js';
import { RiskIdentifiedV1, RiskIdentifiedV1Schema } from './events/risk-identified.v1.js';
import { RiskResolvedV1, RiskResolvedV1Schema } from './events/risk-resolved.v1.js';
import { DrillStartedV1, DrillStartedV1Schema } from './events/drill-started.v1.js';
import { DrillStepCompletedV1, DrillStepCompletedV1Schema } from './events/drill-step-completed.v1.js';
import { DrillCompletedV1, DrillCompletedV1Schema } from './events/drill-completed.v1.js';
import { DrillStepRequestedV1, DrillStepRequestedV1Schema } from './events/drill-step-requested.v1.js';
import { FailoverRehearsedV1, FailoverRehearsedV1Schema } from './events/failover-rehearsed.v1.js';
import { RestorePointCreatedV1, RestorePointCreatedV1Schema } from './events/restore-point-created.v1.js';
import { WalGapDetectedV1, WalGapDetectedV1Schema } from './events/wal-gap-detected.v1.js';
import { WalExpiredV1, WalExpiredV1Schema } from './events/wal-expired.v1.js';
import { WalVerifiedV1, WalVerifiedV1Schema } from './events/wal-verified.v1.js';
import { NotificationDeliveredV1, NotificationDeliveredV1Schema } from './events/notification-delivered.v1.js';

/** The newest data shape of every event type this build knows. */
export interface EventDataMap {
  BackupCreated: BackupCreatedV2;
  IntegrityVerified: IntegrityVerifiedV1;
  FailoverTriggered: FailoverTriggeredV3;
  FailoverCompleted: FailoverCompletedV2;
  FailoverAbandoned: FailoverAbandonedV1;
  BackupFailed: BackupFailedV1;
  BackupExpired: BackupExpiredV1;
  ResourceDegraded: ResourceDegradedV1;
  AuditCheckpointSigned: AuditCheckpointSignedV1;
  DeadLetterReplayed: DeadLetterReplayedV1;
  AuditSigningKeyChanged: AuditSigningKeyChangedV1;
  RestorePerformed: RestorePerformedV1;
  SynchronousReplicationChanged: SynchronousReplicationChangedV1;
  WalArchived: WalArchivedV1;
  SloBreached: SloBreachedV1;
  SloRestored: SloRestoredV1;
  RiskIdentified: RiskIdentifiedV1;
  RiskResolved: RiskResolvedV1;
  DrillStarted: DrillStartedV1;
  DrillStepCompleted: DrillStepCompletedV1;
  DrillCompleted: DrillCompletedV1;
  DrillStepRequested: DrillStepRequestedV1;
  FailoverRehearsed: FailoverRehearsedV1;
  RestorePointCreated: RestorePointCreatedV1;
  WalGapDetected: WalGapDetectedV1;
  WalExpired: WalExpiredV1;
  WalVerified: WalVerifiedV1;
  NotificationDelivered: NotificationDeliveredV1;
}

export type EventType = keyof EventDataMap;

/** A validated event, upcast to the newest version of its type. */
export type ContinuityEvent<T extends EventType = EventType> = { [K in T]: Envelope<K, EventDataMap[K]> }[T];

export const continuityEvents = new EventRegistry()
  .define('BackupCreated', 1, BackupCreatedV1Schema)
  .define('BackupCreated', 2, BackupCreatedV2Schema, upcastBackupCreatedV1)
  .define('IntegrityVerified', 1, IntegrityVerifiedV1Schema)
  .define('FailoverTriggered', 1, FailoverTriggeredV1Schema)
  .define('FailoverTriggered', 2, FailoverTriggeredV2Schema, upcastFailoverTriggeredV1)
  .define('FailoverTriggered', 3, FailoverTriggeredV3Schema, upcastFailoverTriggeredV2)
  .define('FailoverCompleted', 1, FailoverCompletedV1Schema)
  .define('FailoverCompleted', 2, FailoverCompletedV2Schema, upcastFailoverCompletedV1)
  .define('FailoverAbandoned', 1, FailoverAbandonedV1Schema)
  .define('BackupFailed', 1, BackupFailedV1Schema)
  .define('BackupExpired', 1, BackupExpiredV1Schema)
  .define('ResourceDegraded', 1, ResourceDegradedV1Schema)
  .define('AuditCheckpointSigned', 1, AuditCheckpointSignedV1Schema)
  .define('DeadLetterReplayed', 1, DeadLetterReplayedV1Schema)
  .define('AuditSigningKeyChanged', 1, AuditSigningKeyChangedV1Schema)
  .define('RestorePerformed', 1, RestorePerformedV1Schema)
  .define('SynchronousReplicationChanged', 1, SynchronousReplicationChangedV1Schema)
  .define('WalArchived', 1, WalArchivedV1Schema)
  .define('SloBreached', 1, SloBreachedV1Schema)
  .define('SloRestored', 1, SloRestoredV1Schema)
  .define('RiskIdentified', 1, RiskIdentifiedV1Schema)
  .define('RiskResolved', 1, RiskResolvedV1Schema)
  .define('DrillStarted', 1, DrillStartedV1Schema)
  .define('DrillStepCompleted', 1, DrillStepCompletedV1Schema)
  .define('DrillCompleted', 1, DrillCompletedV1Schema)
  .define('DrillStepRequested', 1, DrillStepRequestedV1Schema)
  .define('FailoverRehearsed', 1, FailoverRehearsedV1Schema)
  .define('RestorePointCreated', 1, RestorePointCreatedV1Schema)
  .define('WalGapDetected', 1, WalGapDetectedV1Schema)
  .define('WalExpired', 1, WalExpiredV1Schema)
  .define('WalVerified', 1, WalVerifiedV1Schema)
  .define('NotificationDelivered', 1, NotificationDeliveredV1Schema);
