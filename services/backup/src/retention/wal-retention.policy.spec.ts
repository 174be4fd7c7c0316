import { walFileFacts } from '@continuity/artifacts';
import { ArchivedWal, selectWalExpiry } from './wal-retention.policy.js';

const segment = (name: string): ArchivedWal => ({ name, ...walFileFacts(name) }) as ArchivedWal;
const history = (name: string, at: string): ArchivedWal => ({ name, kind: 'history', timeline: parseInt(name.slice(0, 8), 16), startLsn: at, endLsn: at });

describe('WAL retention selection', () => {
  const tl1 = ['000000010000000000000003', '000000010000000000000004', '000000010000000000000005', '000000010000000000000006'].map(segment);

  it('keeps from the oldest retained base backup\'s start onward, the segment holding that start included, and says the earliest recoverable moment', () => {
    const decision = selectWalExpiry(
      [
        { backupId: 'b-new', timeline: 1, startLsn: '0/6000028', finishedAt: '2026-11-26T10:00:00.000Z' },
        { backupId: 'b-old', timeline: 1, startLsn: '0/5000028', finishedAt: '2026-11-26T09:00:00.000Z' },
      ],
      tl1,
    );
    expect(decision.expire.map((w) => w.name)).toEqual(['000000010000000000000003', '000000010000000000000004']);
    expect(decision).toMatchObject({ keptFrom: { backupId: 'b-old', startLsn: '0/5000028' }, earliestRecoverable: { backupId: 'b-old', at: '2026-11-26T09:00:00.000Z' } });
  });

  it('a segment ending exactly where the backup starts is not needed', () => {
    const decision = selectWalExpiry([{ backupId: 'b', timeline: 1, startLsn: '0/5000000', finishedAt: '2026-11-26T09:00:00.000Z' }], tl1);
    expect(decision.expire.map((w) => w.name)).toEqual(['000000010000000000000003', '000000010000000000000004']);
  });

  it('keeps later timelines for a backup on an earlier one, drops an old timeline no backup is on, never a history file', () => {
    const wal = [...tl1, history('00000002.history', '0/6000A28'), segment('000000020000000000000006'), segment('000000020000000000000007')];
    const onTl1 = selectWalExpiry([{ backupId: 'b1', timeline: 1, startLsn: '0/6000028', finishedAt: '2026-11-26T09:00:00.000Z' }], wal);
    expect(onTl1.expire.map((w) => w.name)).toEqual(['000000010000000000000003', '000000010000000000000004', '000000010000000000000005']);
    const onTl2 = selectWalExpiry([{ backupId: 'b2', timeline: 2, startLsn: '0/7000028', finishedAt: '2026-11-26T09:00:00.000Z' }], wal);
    expect(onTl2.expire.map((w) => w.name)).toEqual([...tl1.map((w) => w.name), '000000020000000000000006']);
  });

  it('expires nothing when no base backup is retained', () => {
    expect(selectWalExpiry([], tl1)).toEqual({ expire: [], skipped: expect.stringContaining('no retained base backup') });
  });
});
