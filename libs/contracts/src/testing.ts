import { createHash, randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { Envelope } from './envelope.js';
import { continuityEvents, ContinuityEvent, EventDataMap, EventType } from './events.js';
import { serviceOwning } from './provenance.js';
import { ContinuityPublisher, type PublisherOptions, type PublishInput } from './publisher.js';
import type { JetStreamClient } from '@nats-io/jetstream';
import { anSloBreachedData, anSloRestoredData, aRiskIdentifiedData, aRiskResolvedData, aDrillStartedData, aDrillStepCompletedData, aDrillCompletedData, aDrillStepRequestedData, aFailoverRehearsedData, aRestorePointCreatedData, aWalGapDetectedData, aWalExpiredData, aWalVerifiedData, aNotificationDeliveredData } from './testing/recovery-fixtures.js';

export * from './testing/recovery-fixtures.js';

/**
 * Fixtures shared by publisher and consumer tests, so both build events the same way.
 * Each returns a valid event; pass overrides to make the one a test needs.
 */
export const sha256Of = (text: string) => createHash('sha256').update(text).digest('hex');

export const aBackupCreatedData = (over: Partial<EventDataMap['BackupCreated']> = {}): EventDataMap['BackupCreated'] => {
  const sha256 = sha256Of(randomBytes(8).toString('hex'));
  return {
    backupId: uuidv7(),
    resourceKind: 'postgres',
    method: 'pg_dump-custom',
    recoveryPoint: '2026-11-26T09:00:00.000Z',
    sizeBytes: 1024,
    sha256,
    copies: [
      { location: 'local-disk', site: 'eu-west-1a', medium: 'disk', uri: 'file:///var/backups/a.dump', sha256, sizeBytes: 1024, manifestUri: 'file:///var/backups/a.manifest.json' },
      { location: 'nas', site: 'eu-west-1a', medium: 'disk', uri: 'file:///mnt/nas/a.dump', sha256, sizeBytes: 1024, manifestUri: 'file:///mnt/nas/a.manifest.json' },
      { location: 'offsite', site: 'eu-central-1', medium: 'object', uri: 'nats-object://backups/a.dump', sha256, sizeBytes: 1024, manifestUri: 'nats-object://backups/a.manifest.json' },
    ],
    policy: 'orders-nightly',
    plaintext: { sha256, sizeBytes: 1024 },
    encryption: null,
    threeTwoOne: { compliant: true, resourceSite: 'eu-west-1a', failedRules: [], optOut: null },
    ...over,
  };
};

export const anIntegrityVerifiedData = (
  over: Partial<EventDataMap['IntegrityVerified']> = {},
): EventDataMap['IntegrityVerified'] => ({
  backupId: uuidv7(),
  verdict: 'passed',
  trigger: 'new',
  copies: [],
  restoreTest: { status: 'passed', durationMs: 1200, checks: [{ name: 'tables present', passed: true, detail: null }] },
  reasons: [],
  ...over,
});

export const aFailoverTriggeredData = (
  over: Partial<EventDataMap['FailoverTriggered']> = {},
): EventDataMap['FailoverTriggered'] => ({
  failoverId: uuidv7(),
  fromInstance: 'pg-a',
  toInstance: 'pg-b',
  planned: false,
  reason: 'primary failed 3 probes',
  firstFailureAt: '2026-11-26T09:00:00.000Z',
  detectedAt: '2026-11-26T09:00:01.500Z',
  epoch: 2,
  candidates: [{ instance: 'pg-b', lsn: '0/3000060', lagBytes: 0, eligible: true, reason: null }],
  observations: [
    { member: 'pg-a', at: '2026-11-26T09:00:00.000Z', reachable: false, inRecovery: null, readOnly: null, currentLsn: null, receiveLsn: null, replayLsn: null, error: 'connect ECONNREFUSED 10.0.0.5:5432' },
    { member: 'pg-a', at: '2026-11-26T09:00:00.500Z', reachable: false, inRecovery: null, readOnly: null, currentLsn: null, receiveLsn: null, replayLsn: null, error: 'connect ECONNREFUSED 10.0.0.5:5432' },
    { member: 'pg-a', at: '2026-11-26T09:00:01.000Z', reachable: false, inRecovery: null, readOnly: null, currentLsn: null, receiveLsn: null, replayLsn: null, error: 'connect ECONNREFUSED 10.0.0.5:5432' },
    { member: 'pg-b', at: '2026-11-26T09:00:01.000Z', reachable: true, inRecovery: true, readOnly: false, currentLsn: null, receiveLsn: '0/3000060', replayLsn: '0/3000060', error: null },
  ],
  decidedBy: 'failover-1',
  lastHealthyAt: '2026-11-26T08:59:59.500Z',
  primaryLsn: '0/3000060',
  fence: null,
  ...over,
});

export const aFailoverCompletedData = (
  over: Partial<EventDataMap['FailoverCompleted']> = {},
): EventDataMap['FailoverCompleted'] => ({
  failoverId: uuidv7(),
  newPrimary: 'pg-b',
  epoch: 2,
  rtoMs: 2100,
  replicationLagBytes: 0,
  timeline: {
    firstFailureAt: '2026-11-26T09:00:00.000Z',
    detectedAt: '2026-11-26T09:00:01.500Z',
    decidedAt: '2026-11-26T09:00:01.510Z',
    promotedAt: '2026-11-26T09:00:01.900Z',
    writableAt: '2026-11-26T09:00:02.000Z',
    routedAt: '2026-11-26T09:00:02.100Z',
  },
  planned: false,
  fromInstance: 'pg-a',
  decidedBy: 'failover-1',
  ...over,
});

export const aFailoverAbandonedData = (
  over: Partial<EventDataMap['FailoverAbandoned']> = {},
): EventDataMap['FailoverAbandoned'] => ({
  failoverId: uuidv7(),
  fromInstance: 'pg-a',
  toInstance: 'pg-b',
  epoch: 2,
  planned: true,
  reason: 'pg-b did not replay 0/3000060 within 30000 ms; pg-a is writable again and stays primary',
  at: '2026-11-26T09:00:30.000Z',
  ...over,
});

export const aBackupFailedData = (over: Partial<EventDataMap['BackupFailed']> = {}): EventDataMap['BackupFailed'] => ({
  backupId: uuidv7(),
  resourceKind: 'directory',
  method: 'tar',
  stage: 'copy',
  reason: 'offsite: ENOSPC: no space left on device',
  location: 'offsite',
  cleanedUp: [{ location: 'offsite', uri: 'file:///mnt/offsite/a.tar', removed: true, error: null }],
  ...over,
});

export const aBackupExpiredData = (over: Partial<EventDataMap['BackupExpired']> = {}): EventDataMap['BackupExpired'] => ({
  backupId: uuidv7(),
  recoveryPoint: '2026-10-01T00:00:00.000Z',
  policy: 'orders-nightly',
  reason: 'beyond keep-last 7, daily 7, weekly 4, monthly 6',
  copies: [{ location: 'local-disk', uri: 'file:///var/backups/a.dump', deleted: true, error: null }],
  ...over,
});

export const aResourceDegradedData = (over: Partial<EventDataMap['ResourceDegraded']> = {}): EventDataMap['ResourceDegraded'] => ({
  member: 'pg-a',
  reason: 'former primary of epoch 1 came back',
  formerEpoch: 1,
  currentEpoch: 2,
  needs: 'rewind',
  madeReadOnly: true,
  ...over,
});

export const anAuditCheckpointSignedData = (
  over: Partial<EventDataMap['AuditCheckpointSigned']> = {},
): EventDataMap['AuditCheckpointSigned'] => ({
  treeSize: 42,
  rootHash: sha256Of('root'),
  timestamp: '2026-11-26T09:00:00.000Z',
  signature: Buffer.from('not a real signature').toString('base64'),
  keyId: sha256Of('key'),
  ...over,
});

export const aDeadLetterReplayedData = (
  over: Partial<EventDataMap['DeadLetterReplayed']> = {},
): EventDataMap['DeadLetterReplayed'] => ({
  consumer: 'verifier_BackupCreated',
  deadLetterStream: 'CONTINUITY_DLQ',
  deadLetterSequence: 7,
  replaySequence: 1,
  original: { eventId: uuidv7(), type: 'BackupCreated', subject: 'continuity.events.BackupCreated.orders-db', streamSequence: 42 },
  reason: 'handler failed on all 5 deliveries: relation "copies" does not exist',
  deliveryCount: 5,
  replayedBy: 'alice',
  replayedAt: '2026-11-26T10:00:00.000Z',
  forced: false,
  ...over,
});

export const anAuditSigningKeyChangedData = (
  over: Partial<EventDataMap['AuditSigningKeyChanged']> = {},
): EventDataMap['AuditSigningKeyChanged'] => ({
  keyId: sha256Of('new key'),
  publicKeyPem: '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n',
  previousKeyId: sha256Of('old key'),
  treeSize: 736,
  attestation: null,
  ...over,
});

export const aRestorePerformedData = (over: Partial<EventDataMap['RestorePerformed']> = {}): EventDataMap['RestorePerformed'] => ({
  restoreId: uuidv7(),
  backupId: uuidv7(),
  targetKind: 'postgres',
  target: 'postgres://restorer:***@db.internal:5432/orders_restore_1',
  overwritten: false,
  outcome: 'restored',
  error: null,
  copy: 'local-disk',
  requestedBy: { via: 'cli', operator: 'alice' },
  targetAllowedBy: 'configuration',
  startedAt: '2026-11-26T09:00:00.000Z',
  finishedAt: '2026-11-26T09:02:00.000Z',
  ...over,
});

export const aSynchronousReplicationChangedData = (
  over: Partial<EventDataMap['SynchronousReplicationChanged']> = {},
): EventDataMap['SynchronousReplicationChanged'] => ({
  primary: 'pg-a',
  mode: 'relaxed',
  synchronousStandby: null,
  previousStandby: 'pg-b',
  setting: '',
  epoch: 0,
  reason: 'no standby can acknowledge commits (pg-b: not streaming to pg-a); commits are acknowledged without a standby until one is back',
  standbys: [{ member: 'pg-b', streaming: false, eligible: false, reason: 'not streaming to pg-a' }],
  ...over,
});

export const aWalArchivedData = (over: Partial<EventDataMap['WalArchived']> = {}): EventDataMap['WalArchived'] => {
  const sha256 = sha256Of(randomBytes(8).toString('hex'));
  const plaintextSha256 = sha256Of(randomBytes(8).toString('hex'));
  return {
    policy: 'orders-wal',
    slot: 'continuity_orders_db',
    shippedAt: '2026-11-26T09:00:00.000Z',
    encryption: null,
    segments: [
      {
        name: '000000010000000000000003',
        kind: 'segment',
        timeline: 1,
        startLsn: '0/3000000',
        endLsn: '0/4000000',
        partial: false,
        sha256,
        sizeBytes: 40_000,
        plaintextSha256,
        plaintextSizeBytes: 16 << 20,
        copies: [
          { location: 'local-disk', site: 'eu-west-1a', medium: 'disk', uri: 'file:///var/backups/orders-db/wal/00000001/000000010000000000000003.zst', sha256 },
          { location: 'offsite', site: 'eu-central-1', medium: 'object', uri: 'nats-object://backups/orders-db/wal/00000001/000000010000000000000003.zst', sha256 },
        ],
      },
    ],
    ...over,
  };
};

const dataFixtures: { [K in EventType]: () => EventDataMap[K] } = {
  BackupCreated: aBackupCreatedData,
  IntegrityVerified: anIntegrityVerifiedData,
  FailoverTriggered: aFailoverTriggeredData,
  FailoverCompleted: aFailoverCompletedData,
  FailoverAbandoned: aFailoverAbandonedData,
  BackupFailed: aBackupFailedData,
  BackupExpired: aBackupExpiredData,
  ResourceDegraded: aResourceDegradedData,
  AuditCheckpointSigned: anAuditCheckpointSignedData,
  DeadLetterReplayed: aDeadLetterReplayedData,
  AuditSigningKeyChanged: anAuditSigningKeyChangedData,
  RestorePerformed: aRestorePerformedData,
  SynchronousReplicationChanged: aSynchronousReplicationChangedData,
  WalArchived: aWalArchivedData,
  SloBreached: anSloBreachedData,
  SloRestored: anSloRestoredData,
  RiskIdentified: aRiskIdentifiedData,
  RiskResolved: aRiskResolvedData,
  DrillStarted: aDrillStartedData,
  DrillStepCompleted: aDrillStepCompletedData,
  DrillCompleted: aDrillCompletedData,
  DrillStepRequested: aDrillStepRequestedData,
  FailoverRehearsed: aFailoverRehearsedData,
  RestorePointCreated: aRestorePointCreatedData,
  WalGapDetected: aWalGapDetectedData,
  WalExpired: aWalExpiredData,
  WalVerified: aWalVerifiedData,
  NotificationDelivered: aNotificationDeliveredData,
};

/** A whole valid envelope of `type` (newest version), with any field overridden. */
export const anEvent = <T extends EventType>(
  type: T,
  over: Partial<Omit<Envelope<T, EventDataMap[T]>, 'type'>> = {},
): ContinuityEvent<T> => {
  const id = over.id ?? uuidv7();
  return {
    id,
    type,
    version: continuityEvents.latestVersion(type),
    // The service that alone may publish the type: consumers refuse any other source.
    source: serviceOwning(type) ?? 'test',
    resource: 'orders-db',
    occurredAt: new Date().toISOString(),
    correlationId: id,
    causationId: null,
    data: dataFixtures[type](),
    ...over,
  } as ContinuityEvent<T>;
};

/**
 * Publishes each event as the service that owns its type (`backup` for BackupCreated, `failover`
 * for FailoverCompleted, …), as the real services would: a test of what consumers do with events
 * stands in for every publisher at once.
 */
export const ownersPublisher = (js: JetStreamClient, options: Omit<PublisherOptions, 'source'>) => {
  const publishers = new Map<string, ContinuityPublisher>();
  const as = (source: string) => {
    let publisher = publishers.get(source);
    if (!publisher) publishers.set(source, (publisher = new ContinuityPublisher(js, { ...options, source })));
    return publisher;
  };
  return {
    publish: <T extends EventType>(type: T, input: PublishInput<T>) => as(serviceOwning(type) ?? 'test').publish(type, input),
  };
};

/** A short random id for naming a test run's streams, buckets and databases. */
export const testRunId = (prefix = 't') => `${prefix}_${randomBytes(5).toString('hex')}`;
