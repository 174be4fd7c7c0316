import { EventType } from '@continuity/contracts';
import { aBackupCreatedData, aBackupFailedData, anEvent } from '@continuity/contracts/testing';
import { foldEntries, ProjectedResource, SNAPSHOT_EVERY } from './projection-fold.js';
import { DEFAULT_SLO_TARGETS, LedgerEntry } from './resource-state.projection.js';

const at = '2026-11-26T10:00:00.000Z';
const entries = (resource: string, type: EventType, data: () => any, from: number, count: number): LedgerEntry[] =>
  Array.from({ length: count }, (_, i) => ({ logIndex: from + i, recordedAt: at, event: anEvent(type, { resource, data: data(), occurredAt: at }) }));

describe('foldEntries', () => {
  it('given nothing, when entries of two resources are folded, then each is counted and snapshotted every SNAPSHOT_EVERY of its own entries', () => {
    const log = [...entries('orders-db', 'BackupCreated', () => aBackupCreatedData(), 0, SNAPSHOT_EVERY + 1), ...entries('files', 'BackupFailed', () => aBackupFailedData(), SNAPSHOT_EVERY + 1, 3)];
    const { states, snapshots } = foldEntries(new Map(), log, DEFAULT_SLO_TARGETS);
    expect(states.get('orders-db')).toMatchObject({ count: SNAPSHOT_EVERY + 1, state: { asOfLogIndex: SNAPSHOT_EVERY, counts: { backupsTaken: SNAPSHOT_EVERY + 1 } } });
    expect(states.get('files')).toMatchObject({ count: 3, state: { counts: { backupsFailed: 3 } } });
    expect(snapshots.map((s) => [s.resource, s.logIndex, s.state.asOfLogIndex])).toEqual([['orders-db', SNAPSHOT_EVERY - 1, SNAPSHOT_EVERY - 1]]);
  });

  it('given projections so far, when the next entries are folded, then the result equals one fold of them all and the given map is not changed', () => {
    const log = entries('orders-db', 'BackupCreated', () => aBackupCreatedData(), 0, 2 * SNAPSHOT_EVERY);
    const whole = foldEntries(new Map(), log, DEFAULT_SLO_TARGETS);
    const first = foldEntries(new Map(), log.slice(0, 10), DEFAULT_SLO_TARGETS);
    const before: ProjectedResource = first.states.get('orders-db')!;
    const rest = foldEntries(first.states, log.slice(10), DEFAULT_SLO_TARGETS);
    expect(rest.states).toEqual(whole.states);
    expect([...first.snapshots, ...rest.snapshots]).toEqual(whole.snapshots);
    expect(first.states.get('orders-db')).toBe(before);
    expect(before.count).toBe(10);
  });
});
