import { chooseBaseBackup, recoverySettings, walChainFor, type ArchivedWal, type BaseBackupCandidate, shellWord } from './pitr-plan.policy.js';

const MB16 = 16 * 1024 * 1024;
const backups: BaseBackupCandidate[] = [
  { backupId: 'b1', finishedAt: '2026-12-01T10:00:00Z', startLsn: '0/2000028', endLsn: '0/2000138', timeline: 1 },
  { backupId: 'b2', finishedAt: '2026-12-01T11:00:00Z', startLsn: '0/5000028', endLsn: '0/5000100', timeline: 1 },
];
const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
const seg = (n: number, over: Partial<ArchivedWal> = {}): ArchivedWal => ({
  name: `00000001${hex(0)}${hex(n)}`,
  kind: 'segment',
  timeline: 1,
  startLsn: `0/${(n * MB16).toString(16).toUpperCase()}`,
  endLsn: `0/${((n + 1) * MB16).toString(16).toUpperCase()}`,
  partial: false,
  plaintextSha256: 'a'.repeat(64),
  plaintextSizeBytes: MB16,
  archivedAt: `2026-12-01T1${Math.min(n, 9)}:30:00Z`,
  copies: [{ location: 'local', sha256: 'b'.repeat(64), sizeBytes: 100 }],
  ...over,
});

describe('choosing the base backup for a target', () => {
  it('takes the newest one that ended before the time or LSN; the newest for --latest', () => {
    expect(chooseBaseBackup(backups, { kind: 'time', at: new Date('2026-12-01T10:30:00Z') }).backupId).toBe('b1');
    expect(chooseBaseBackup(backups, { kind: 'time', at: new Date('2026-12-01T11:00:00Z') }).backupId).toBe('b2');
    expect(chooseBaseBackup(backups, { kind: 'lsn', lsn: '0/5000000' }).backupId).toBe('b1');
    expect(chooseBaseBackup(backups, { kind: 'lsn', lsn: '0/5000100' }).backupId).toBe('b2');
    expect(chooseBaseBackup(backups, { kind: 'latest' }).backupId).toBe('b2');
  });

  it('takes the oldest for a restore point of unknown position, or by its LSN when known', () => {
    expect(chooseBaseBackup(backups, { kind: 'name', name: 'p' }).backupId).toBe('b1');
    expect(chooseBaseBackup(backups, { kind: 'name', name: 'p' }, { restorePointLsn: '0/6000000' }).backupId).toBe('b2');
  });

  it('refuses a target before the first base backup, and none at all', () => {
    expect(() => chooseBaseBackup(backups, { kind: 'time', at: new Date('2026-12-01T09:59:59Z') })).toThrow(expect.objectContaining({ code: 'RESTORE.TARGET_BEFORE_FIRST_BACKUP' }));
    expect(() => chooseBaseBackup(backups, { kind: 'lsn', lsn: '0/2000100' })).toThrow(expect.objectContaining({ code: 'RESTORE.TARGET_BEFORE_FIRST_BACKUP' }));
    expect(() => chooseBaseBackup([], { kind: 'latest' })).toThrow(expect.objectContaining({ code: 'RESTORE.NO_BASE_BACKUP' }));
  });
});

describe('the WAL a restore needs', () => {
  const b1 = backups[0]!;
  it('runs from the segment holding the backup start, contiguous, to the partial segment at the end; history files first', () => {
    const history: ArchivedWal = { ...seg(0), name: '00000002.history', kind: 'history', timeline: 2 };
    const chain = walChainFor([seg(1), seg(4), seg(2), seg(3), seg(5, { partial: true }), history], b1, { kind: 'latest' });
    expect(chain.files.map((f) => f.name)).toEqual(['00000002.history', ...[2, 3, 4, 5].map((n) => seg(n).name)]);
    expect(chain).toMatchObject({ endLsn: '0/6000000', gapAt: null });
  });

  it('stops at a hole and says where', () => {
    const chain = walChainFor([seg(2), seg(3), seg(5)], b1, { kind: 'latest' });
    expect(chain.files.map((f) => f.name)).toEqual([seg(2).name, seg(3).name]);
    expect(chain.gapAt).toBe('0/4000000');
  });

  it('an LSN target needs nothing past its segment, and must be archived', () => {
    expect(walChainFor([seg(2), seg(3), seg(4)], b1, { kind: 'lsn', lsn: '0/3000010' }).files.map((f) => f.name)).toEqual([seg(2).name, seg(3).name]);
    expect(() => walChainFor([seg(2), seg(3)], b1, { kind: 'lsn', lsn: '0/4000010' })).toThrow(/past the newest archived WAL \(0\/4000000\)/);
  });

  describe('across a timeline switch (history file 00000002 at 0/4000100)', () => {
    const tl2 = (n: number, over: Partial<ArchivedWal> = {}) => seg(n, { name: `00000002${hex(0)}${hex(n)}`, timeline: 2, ...over });
    const history: ArchivedWal = { ...seg(4), name: '00000002.history', kind: 'history', timeline: 2, startLsn: '0/4000100', endLsn: '0/4000100' };
    // Timeline 1 went on a little past the switch on the old primary (its partial segment 4): never replayed.
    const archive = [seg(2), seg(3), seg(4, { partial: true, endLsn: '0/4000800' }), history, tl2(4), tl2(6, { partial: true }), tl2(5)];

    it('follows timeline 1 up to the switch segment, then timeline 2 (which holds that segment) to its end; the newest segment is the last of timeline 2', () => {
      const chain = walChainFor(archive, b1, { kind: 'latest' });
      expect(chain.files.map((f) => f.name)).toEqual(['00000002.history', seg(2).name, seg(3).name, tl2(4).name, tl2(5).name, tl2(6).name]);
      expect(chain).toMatchObject({ endLsn: '0/7000000', gapAt: null, lastSegment: tl2(6).name, timelines: [1, 2] });
    });

    it('an LSN on timeline 2 past the switch is reached (not refused as past timeline 1\'s end)', () => {
      const chain = walChainFor(archive, b1, { kind: 'lsn', lsn: '0/5000010' });
      expect(chain.files.map((f) => f.name)).toEqual(['00000002.history', seg(2).name, seg(3).name, tl2(4).name, tl2(5).name]);
    });

    it('a hole on timeline 1 before the switch, or on timeline 2 after it, ends the chain there and says where', () => {
      const beforeSwitch = walChainFor([seg(2), history, tl2(4), tl2(5)], b1, { kind: 'latest' });
      expect(beforeSwitch).toMatchObject({ gapAt: '0/3000000', lastSegment: seg(2).name, timelines: [1] });
      const afterSwitch = walChainFor([seg(2), seg(3), history, tl2(4), tl2(6)], b1, { kind: 'latest' });
      expect(afterSwitch).toMatchObject({ gapAt: '0/5000000', lastSegment: tl2(4).name, endLsn: '0/5000000' });
      expect(() => walChainFor([seg(2), seg(3), history, tl2(4), tl2(6)], b1, { kind: 'lsn', lsn: '0/6000010' })).toThrow(/past a hole in the WAL archive at 0\/5000000/);
    });
  });

  it('a time target must not be after the newest archived WAL', () => {
    expect(() => walChainFor([seg(2), seg(3)], b1, { kind: 'time', at: new Date('2026-12-01T14:00:00Z') })).toThrow(expect.objectContaining({ code: 'RESTORE.TARGET_NOT_ARCHIVED' }));
    expect(walChainFor([seg(2), seg(3)], b1, { kind: 'time', at: new Date('2026-12-01T12:00:00Z') }).files).toHaveLength(2);
  });
});

describe('recovery settings', () => {
  it('quotes the command and target, promotes, and sets no target for --latest', () => {
    const text = recoverySettings({ restoreCommand: "'/usr/bin/node' '/opt/x.js' %f %p", target: { kind: 'time', at: new Date('2026-12-01T11:00:00Z') }, port: 5433 });
    expect(text).toContain("restore_command = '''/usr/bin/node'' ''/opt/x.js'' %f %p'");
    expect(text).toContain("recovery_target_time = '2026-12-01 11:00:00.000+00'");
    expect(text).toContain("recovery_target_action = 'promote'");
    expect(text).toContain('port = 5433');
    expect(recoverySettings({ restoreCommand: 'x', target: { kind: 'latest' }, port: null })).not.toMatch(/recovery_target_(time|lsn|name) =/);
  });
});

describe('shellWord (a word of restore_command, run by PostgreSQL through /bin/sh)', () => {
  it("quotes a word whole, its quotes escaped, and doubles % (PostgreSQL's placeholders)", () => {
    expect(shellWord("/data/it's %f 100%")).toBe(`'/data/it'\\''s %%f 100%%'`);
  });
});
