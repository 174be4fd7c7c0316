import { ContractViolationError } from './errors.js';
import { EVENT_LIMITS } from './envelope.js';
import { continuityEvents } from './events.js';
import { aBackupCreatedData, aBackupExpiredData, aBackupFailedData, anEvent, anIntegrityVerifiedData, aResourceDegradedData, aRestorePerformedData, aWalArchivedData } from './testing.js';

// Every limit, one over and exactly at: an event one character or item over is invalid (so the
// publisher refuses it and consumers dead-letter it), one at the limit is fine.

const text = (n: number) => 'x'.repeat(n);
const copyOf = (i: number) => ({ ...aBackupCreatedData().copies[0]!, location: `loc-${i}` });

const cases: [string, (n: number) => ReturnType<typeof anEvent>, number][] = [
  ['envelope source', (n) => anEvent('BackupCreated', { source: text(n) }), EVENT_LIMITS.name],
  ['envelope resource', (n) => anEvent('BackupCreated', { resource: `r${text(n - 1)}` }), EVENT_LIMITS.name],
  ['BackupCreated copies', (n) => anEvent('BackupCreated', { data: aBackupCreatedData({ copies: Array.from({ length: n }, (_, i) => copyOf(i)) }) }), EVENT_LIMITS.copies],
  ['BackupCreated copy location', (n) => anEvent('BackupCreated', { data: aBackupCreatedData({ copies: [{ ...copyOf(0), location: text(n) }] }) }), EVENT_LIMITS.name],
  ['BackupCreated copy uri', (n) => anEvent('BackupCreated', { data: aBackupCreatedData({ copies: [{ ...copyOf(0), uri: `file:///${text(n - 8)}` }] }) }), EVENT_LIMITS.uri],
  ['BackupCreated policy', (n) => anEvent('BackupCreated', { data: aBackupCreatedData({ policy: text(n) }) }), EVENT_LIMITS.name],
  ['BackupFailed reason', (n) => anEvent('BackupFailed', { data: aBackupFailedData({ reason: text(n) }) }), EVENT_LIMITS.text],
  ['BackupExpired reason', (n) => anEvent('BackupExpired', { data: aBackupExpiredData({ reason: text(n) }) }), EVENT_LIMITS.text],
  ['IntegrityVerified reasons', (n) => anEvent('IntegrityVerified', { data: anIntegrityVerifiedData({ reasons: Array.from({ length: n }, () => 'bad copy') }) }), EVENT_LIMITS.list],
  ['IntegrityVerified reason text', (n) => anEvent('IntegrityVerified', { data: anIntegrityVerifiedData({ reasons: [text(n)] }) }), EVENT_LIMITS.text],
  ['ResourceDegraded reason', (n) => anEvent('ResourceDegraded', { data: aResourceDegradedData({ reason: text(n) }) }), EVENT_LIMITS.text],
  ['WalArchived segments', (n) => anEvent('WalArchived', { data: aWalArchivedData({ segments: Array.from({ length: n }, () => aWalArchivedData().segments[0]!) }) }), 1_000],
  ['WalArchived copies', (n) => anEvent('WalArchived', { data: aWalArchivedData({ segments: [{ ...aWalArchivedData().segments[0]!, copies: Array.from({ length: n }, (_, i) => ({ ...aWalArchivedData().segments[0]!.copies[0]!, location: `loc-${i}` })) }] }) }), EVENT_LIMITS.copies],
  ['WalArchived slot', (n) => anEvent('WalArchived', { data: aWalArchivedData({ slot: text(n) }) }), EVENT_LIMITS.name],
  ['RestorePerformed error', (n) => anEvent('RestorePerformed', { data: aRestorePerformedData({ outcome: 'failed', error: text(n) }) }), EVENT_LIMITS.text],
];

describe('event length limits', () => {
  it.each(cases)('%s: at the limit is valid, one over is refused', (_what, make, limit) => {
    expect(() => continuityEvents.parse(make(limit))).not.toThrow();
    expect(() => continuityEvents.parse(make(limit + 1))).toThrow(ContractViolationError);
    expect(() => continuityEvents.parse(make(limit + 1))).toThrow(new RegExp(`${limit}`));
  });
});
