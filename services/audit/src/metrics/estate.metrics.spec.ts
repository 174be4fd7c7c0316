import { METRICS } from '@continuity/telemetry';
import { initialResourceState, type ResourceState } from '../resource-state/resource-state.projection.js';
import { ledgerSamples, resourceSamples } from './estate.metrics.js';

const targets = { rpoMs: 5 * 60_000, rtoMs: 30_000, availability: 0.9999 };
const now = Date.parse('2026-12-01T12:00:00Z');
const valueOf = (samples: ReturnType<typeof resourceSamples>, name: string, attributes: Record<string, string> = {}) =>
  samples.find((s) => s.metric.name === name && Object.entries(attributes).every(([k, v]) => s.attributes[k] === v))?.value;

describe('estate metrics (pure: projected state and the time in, samples out)', () => {
  const verified: ResourceState = {
    ...initialResourceState('orders-db', '2026-12-01T00:00:00Z'),
    lastBackup: { backupId: 'b2', recoveryPoint: '2026-12-01T11:58:00Z', createdAt: '2026-12-01T11:58:30Z', sizeBytes: 10, copies: 3 },
    lastVerified: {
      backupId: 'b1',
      recoveryPoint: '2026-12-01T11:50:00Z',
      verifiedAt: '2026-12-01T11:52:00Z',
      restoreMs: 4_500,
      passedCopies: [
        { location: 'a', site: 's1', medium: 'disk' },
        { location: 'b', site: 's2', medium: 'object' },
      ],
      threeTwoOne: { copies: 2, media: 2, sites: 2, compliant: false },
    },
    counts: { backupsTaken: 4, backupsFailed: 1, backupsExpired: 0, verificationsPassed: 3, verificationsFailed: 1, failovers: 2 },
    downtimeMs: 12_000,
    openOutage: { failoverId: 'f', since: '2026-12-01T11:59:30Z' },
  };

  it('ages the newest verified recovery point and measures it against the RPO target', () => {
    const samples = resourceSamples(verified, now, targets);
    expect(valueOf(samples, METRICS.recoveryPointAge.name)).toBe(600);
    expect(valueOf(samples, METRICS.rpoExposure.name)).toBe(2); // 10 min against 5 min
    expect(valueOf(samples, METRICS.rpoTarget.name)).toBe(300);
    expect(valueOf(samples, METRICS.lastBackupAge.name)).toBe(120);
    expect(valueOf(samples, METRICS.restoreTestDuration.name)).toBe(4.5);
    expect(valueOf(samples, METRICS.copiesVerified.name)).toBe(2);
    expect(valueOf(samples, METRICS.threeTwoOne.name)).toBe(0);
  });

  it('counts outcomes and verdicts, and an open outage as downtime up to now', () => {
    const samples = resourceSamples(verified, now, targets);
    expect(valueOf(samples, METRICS.backups.name, { outcome: 'created' })).toBe(4);
    expect(valueOf(samples, METRICS.backups.name, { outcome: 'failed' })).toBe(1);
    expect(valueOf(samples, METRICS.verdicts.name, { verdict: 'failed' })).toBe(1);
    expect(valueOf(samples, METRICS.downtime.name)).toBe(42);
    expect(samples.every((s) => s.attributes.resource === 'orders-db')).toBe(true);
  });

  it('reports no recovery-point age for a resource never verified (absent, not a reassuring zero)', () => {
    const samples = resourceSamples(initialResourceState('new-db', '2026-12-01T00:00:00Z'), now, targets);
    expect(valueOf(samples, METRICS.recoveryPointAge.name)).toBeUndefined();
    expect(valueOf(samples, METRICS.rpoExposure.name)).toBeUndefined();
    expect(valueOf(samples, METRICS.backups.name, { outcome: 'created' })).toBe(0);
  });

  it('reports the ledger size and the age of its newest signed head', () => {
    expect(ledgerSamples({ entries: 7, signedHead: { treeSize: 6, timestamp: '2026-12-01T11:59:00Z' } }, now).map((s) => [s.metric.name, s.value])).toEqual([
      [METRICS.ledgerEntries.name, 7],
      [METRICS.ledgerSignedSize.name, 6],
      [METRICS.ledgerSignedHeadAge.name, 60],
    ]);
    expect(ledgerSamples({ entries: 0, signedHead: null }, now)).toHaveLength(1);
  });
});
