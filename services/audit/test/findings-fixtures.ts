import { EventType } from '@continuity/contracts';
import { aBackupCreatedData, anEvent, anIntegrityVerifiedData, aWalArchivedData } from '@continuity/contracts/testing';
import { evolveResourceState, LedgerEntry, ResourceState } from '../src/resource-state/resource-state.projection.js';

/**
 * Ledger stories for the protection projection, SLO and risk tests: times in minutes after
 * 2026-11-26 09:00 UTC, one resource unless told, log indices counting up.
 */
export const T0 = Date.UTC(2026, 10, 26, 9, 0);
export const at = (minute: number) => new Date(T0 + minute * 60_000).toISOString();
export const atDate = (minute: number) => new Date(T0 + minute * 60_000);

let index = 0;
export const resetLog = () => (index = 0);

export const entry = <T extends EventType>(type: T, data: any, minute: number, resource = 'orders-db'): LedgerEntry => ({
  logIndex: index++,
  recordedAt: at(minute),
  event: anEvent(type, { resource, data, occurredAt: at(minute) }),
});

export const fold = (entries: LedgerEntry[], start: ResourceState | null = null) => entries.reduce<ResourceState | null>((s, e) => evolveResourceState(s, e), start)!;

export type Backup = ReturnType<typeof aBackupCreatedData>;

/** A dump whose recovery point is `minute` (3 copies, 2 media, 2 sites: 3-2-1). */
export const dump = (minute: number, over: Partial<Backup> = {}): Backup => aBackupCreatedData({ recoveryPoint: at(minute), ...over });

/** A base backup ending at `minute`, on timeline 1, ending at `endLsn`. */
export const baseBackup = (minute: number, endLsn = '0/3000100', over: Partial<Backup> = {}): Backup =>
  aBackupCreatedData({
    recoveryPoint: at(minute),
    method: 'basebackup',
    basebackup: { startLsn: '0/3000028', endLsn, timeline: 1, label: 'continuity-x', pgVersion: '15', systemIdentifier: '7300000000000000000' },
    ...over,
  });

/** The verifier's verdict on `backup`: copies at `bad` fail their hash; passed when none does. */
export const verdict = (backup: Backup, bad: string[] = [], over: Record<string, unknown> = {}) =>
  anIntegrityVerifiedData({
    backupId: backup.backupId,
    verdict: bad.length ? 'failed' : 'passed',
    copies: backup.copies.map((c) => ({ location: c.location, uri: c.uri, readable: true, sizeMatch: true, hashMatch: !bad.includes(c.location), actualSha256: c.sha256, durationMs: 2, mbPerSec: 100, error: null })),
    reasons: bad.map((l) => `copy at ${l}: hash mismatch`),
    ...over,
  });

/** Created at its recovery point and verified `after` minutes later. */
export const verifiedBackup = (backup: Backup, minute: number, after = 1, bad: string[] = []) => [entry('BackupCreated', backup, minute), entry('IntegrityVerified', verdict(backup, bad), minute + after)];

const seg = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
/** A WAL shipment at `minute` of segment n (LSN n/0 … n+1/0 on timeline 1, here in units of 2^32 for brevity), in `copies` copies. */
export const walShipment = (minute: number, n: number, copies = 3, timeline = 1) => {
  const template = aWalArchivedData().segments[0]!;
  const copy = template.copies[0]!;
  return aWalArchivedData({
    shippedAt: at(minute),
    segments: [
      {
        ...template,
        name: `${seg(timeline)}${seg(n)}00000000`,
        timeline,
        startLsn: `${n.toString(16).toUpperCase()}/0`,
        endLsn: `${(n + 1).toString(16).toUpperCase()}/0`,
        copies: Array.from({ length: copies }, (_, i) => ({ ...copy, location: `wal-${i}`, site: i === 0 ? 'eu-west-1a' : 'eu-central-1', medium: i === 0 ? 'disk' : 'object' })),
      },
    ],
  });
};
