import { planReplay, ReplayFile } from './wal-replay.plan.js';

const seg = (n: number, over: Partial<ReplayFile> = {}): ReplayFile => ({
  name: `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`,
  kind: 'segment',
  timeline: 1,
  startLsn: `0/${n.toString(16).toUpperCase()}000000`,
  endLsn: `0/${(n + 1).toString(16).toUpperCase()}000000`,
  partial: false,
  ...over,
});
const facts = { startLsn: '0/4000028', endLsn: '0/4000100', timeline: 1 };

describe('replay plan (pure)', () => {
  it('stops at the newest restore point after the backup that the archive reaches, fetching what follows the backup start', () => {
    const plan = planReplay(
      [seg(2), seg(3), seg(4), seg(5), seg(6)],
      [
        { name: 'before', lsn: '0/3000100', timeline: 1 },
        { name: 'rp-1', lsn: '0/5000200', timeline: 1 },
        { name: 'rp-2', lsn: '0/6000300', timeline: 1 },
        { name: 'not-archived-yet', lsn: '0/9000000', timeline: 1 },
      ],
      facts,
    );
    expect(plan.files?.map((f) => f.name)).toEqual([seg(4).name, seg(5).name, seg(6).name]);
    expect('target' in plan && plan.target).toEqual({ kind: 'restore-point', name: 'rp-2', lsn: '0/6000300' });
  });

  it('never configures a restore point whose name could say more than a name', () => {
    const plan = planReplay([seg(4), seg(5)], [{ name: "x'\nrestore_command = 'evil'", lsn: '0/5000200', timeline: 1 }], facts);
    expect('target' in plan && plan.target.kind).toBe('latest');
  });

  it('without a restore point: the newest archived WAL, its end when a later partial segment continues it', () => {
    const alone = planReplay([seg(4), seg(5)], [], facts);
    expect('target' in alone && alone.target).toEqual({ kind: 'latest', lsn: '0/5000000', detail: expect.stringContaining('into the newest finished segment') });
    const continued = planReplay([seg(4), seg(5), seg(6, { partial: true, endLsn: '0/6000800' })], [], facts);
    expect('target' in continued && continued.target).toEqual({ kind: 'latest', lsn: '0/6000000', detail: expect.stringContaining('the end of the newest finished segment') });
  });

  it('no replay when nothing was archived past the backup end', () => {
    expect(planReplay([seg(2), seg(3)], [], facts)).toEqual({ files: null, why: 'no WAL archived after the base backup ends' });
    expect(planReplay([], [], facts).files).toBeNull();
  });
});
