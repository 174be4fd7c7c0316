import { v7 as uuidv7 } from 'uuid';
import type { EventDataMap } from '../events.js';

/**
 * Data fixtures of the findings, drills, WAL-operation and notification events: valid data of the
 * newest version, any field overridden. Re-exported by `@continuity/contracts/testing`.
 */

export const anSloBreachedData = (over: Partial<EventDataMap['SloBreached']> = {}): EventDataMap['SloBreached'] => ({
  breachId: uuidv7(),
  kind: 'rpo',
  measured: 360_000,
  target: 300_000,
  unit: 'ms',
  since: '2026-11-26T09:05:00.000Z',
  detail: 'RPO exposure 6.0 min above the 5.0 min target',
  evidence: [],
  ...over,
});

export const anSloRestoredData = (over: Partial<EventDataMap['SloRestored']> = {}): EventDataMap['SloRestored'] => ({
  breachId: uuidv7(),
  kind: 'rpo',
  measured: 1_000,
  target: 300_000,
  unit: 'ms',
  breachedAt: '2026-11-26T09:05:00.000Z',
  restoredAt: '2026-11-26T09:10:00.000Z',
  detail: 'a new recovery point is durable',
  evidence: [],
  ...over,
});

export const aRiskIdentifiedData = (over: Partial<EventDataMap['RiskIdentified']> = {}): EventDataMap['RiskIdentified'] => ({
  riskId: uuidv7(),
  rule: 'copies-one-site',
  severity: 'high',
  summary: 'every copy of the newest verified backup is on site eu-west-1a',
  mitigation: 'add a copy location on another site to the policy',
  evidence: [],
  ...over,
});

export const aRiskResolvedData = (over: Partial<EventDataMap['RiskResolved']> = {}): EventDataMap['RiskResolved'] => ({
  riskId: uuidv7(),
  rule: 'copies-one-site',
  identifiedAt: '2026-11-26T09:05:00.000Z',
  detail: 'the newest verified backup has copies on 2 sites',
  evidence: [],
  ...over,
});

const DRILL_ID = '01937a5e-0000-7000-8000-00000000d1d1';

export const aDrillStartedData = (over: Partial<EventDataMap['DrillStarted']> = {}): EventDataMap['DrillStarted'] => ({
  drillId: DRILL_ID,
  kind: 'restore',
  steps: ['restore'],
  targets: { rtoMs: 30_000, rpoMs: 300_000 },
  trigger: 'api',
  requestedBy: 'alice',
  startedAt: '2026-11-26T09:00:00.000Z',
  scheduleSlot: null,
  stepTimeoutMs: 600_000,
  failoverStandby: null,
  ...over,
});

export const aDrillStepCompletedData = (over: Partial<EventDataMap['DrillStepCompleted']> = {}): EventDataMap['DrillStepCompleted'] => ({
  drillId: DRILL_ID,
  step: 'restore',
  outcome: 'passed',
  startedAt: '2026-11-26T09:00:00.000Z',
  finishedAt: '2026-11-26T09:00:04.000Z',
  durationMs: 4_000,
  rtoMs: 3_500,
  rpoMs: 60_000,
  dataLostBytes: null,
  backupId: '01937a5e-0000-7000-8000-00000000b0b0',
  recoveryPoint: '2026-11-26T08:59:00.000Z',
  scratchTarget: 'postgres://postgres@127.0.0.1:5432/continuity_drill_0a1b2c3d',
  scratchRemoved: true,
  standby: null,
  checks: [{ name: 'row counts as recorded', ok: true, detail: '3 tables' }],
  reason: null,
  ...over,
});

export const aDrillCompletedData = (over: Partial<EventDataMap['DrillCompleted']> = {}): EventDataMap['DrillCompleted'] => ({
  drillId: DRILL_ID,
  kind: 'restore',
  outcome: 'passed',
  startedAt: '2026-11-26T09:00:00.000Z',
  finishedAt: '2026-11-26T09:00:04.000Z',
  targets: { rtoMs: 30_000, rpoMs: 300_000 },
  achieved: { rtoMs: 3_500, rpoMs: 60_000 },
  recoveredMs: 4_000,
  steps: [{ step: 'restore', outcome: 'passed', durationMs: 4_000, rtoMs: 3_500, rpoMs: 60_000, reason: null }],
  failedStep: null,
  reason: null,
  ...over,
});

export const aDrillStepRequestedData = (over: Partial<EventDataMap['DrillStepRequested']> = {}): EventDataMap['DrillStepRequested'] => ({
  drillId: DRILL_ID,
  step: 'failover',
  standby: 'pg-b',
  switchBack: true,
  deadline: '2026-11-26T09:10:00.000Z',
  ...over,
});

export const aFailoverRehearsedData = (over: Partial<EventDataMap['FailoverRehearsed']> = {}): EventDataMap['FailoverRehearsed'] => ({
  drillId: DRILL_ID,
  requestId: '01937a5e-0000-7000-8000-00000000e0e0',
  outcome: 'completed',
  from: 'pg-a',
  to: 'pg-b',
  failoverId: '01937a5e-0000-7000-8000-00000000f0f0',
  rtoMs: 1_200,
  dataLostBytes: 0,
  switchBack: { outcome: 'skipped', rtoMs: null, reason: 'pg-a is fenced and needs a rewind before it can be a standby again' },
  reason: null,
  ...over,
});

export const aRestorePointCreatedData = (over: Partial<EventDataMap['RestorePointCreated']> = {}): EventDataMap['RestorePointCreated'] => ({
  policy: 'orders-wal',
  name: 'continuity_20261126T090000Z',
  lsn: '0/3000158',
  timeline: 1,
  createdAt: '2026-11-26T09:00:00.000Z',
  trigger: 'interval',
  backupId: null,
  ...over,
});

export const aWalGapDetectedData = (over: Partial<EventDataMap['WalGapDetected']> = {}): EventDataMap['WalGapDetected'] => ({
  policy: 'orders-wal',
  slot: 'continuity_orders_db',
  timeline: 1,
  fromLsn: '0/5000000',
  toLsn: '0/9000000',
  missingSegments: { first: '000000010000000000000005', last: '000000010000000000000008' },
  reason: 'the slot continuity_orders_db was recreated at 0/9000000; WAL 0/5000000-0/9000000 is no longer on the server',
  detectedAt: '2026-11-26T09:00:00.000Z',
  baseBackupId: uuidv7(),
  ...over,
});

export const aWalExpiredData = (over: Partial<EventDataMap['WalExpired']> = {}): EventDataMap['WalExpired'] => ({
  policy: 'orders-wal',
  reason: 'before the oldest retained base backup (keep-last 2)',
  keptFrom: { backupId: uuidv7(), timeline: 1, startLsn: '0/9000028' },
  earliestRecoverable: { backupId: uuidv7(), at: '2026-11-26T09:00:00.000Z' },
  segments: { count: 4, first: '000000010000000000000005', last: '000000010000000000000008', timelines: [1] },
  copies: [{ location: 'local-disk', deleted: 4, failed: 0, error: null }],
  ...over,
});

export const aWalVerifiedData = (over: Partial<EventDataMap['WalVerified']> = {}): EventDataMap['WalVerified'] => ({
  trigger: 'new',
  verdict: 'passed',
  segmentsChecked: 1,
  copies: [
    { location: 'local-disk', ok: 1, failed: 0, unverifiable: 0 },
    { location: 'offsite', ok: 1, failed: 0, unverifiable: 0 },
  ],
  failedCopies: [],
  gaps: [],
  timelines: [{ timeline: 1, startLsn: '0/3000000', endLsn: '0/4000000', segments: 1 }],
  verifiedAt: '2026-11-26T09:00:01.000Z',
  ...over,
});

export const aNotificationDeliveredData = (over: Partial<EventDataMap['NotificationDelivered']> = {}): EventDataMap['NotificationDelivered'] => ({
  channel: 'oncall',
  channelKind: 'webhook',
  eventId: uuidv7(),
  eventType: 'FailoverTriggered',
  attempts: 1,
  outcome: 'delivered',
  httpStatus: 204,
  reason: null,
  at: '2026-11-26T09:00:02.000Z',
  ...over,
});
