import { checkBaseBackupsAgainstLedger, checkWalAgainstLedger, recordedVersions, type LedgerWalVersion } from './ledger-check.policy.js';
import type { ArchivedWal } from './pitr-plan.policy.js';

const h = (c: string) => c.repeat(64);
const file = (name: string, plain: string, copies: [string, string][]): ArchivedWal => ({
  name,
  kind: 'segment',
  timeline: 1,
  startLsn: '0/2000000',
  endLsn: '0/3000000',
  partial: false,
  plaintextSha256: h(plain),
  plaintextSizeBytes: 16,
  archivedAt: '2026-12-01T10:00:00Z',
  copies: copies.map(([location, sha]) => ({ location, sha256: h(sha), sizeBytes: 10 })),
});
const recorded = (name: string, plain: string, copies: [string, string][], partial = false): LedgerWalVersion => ({
  name,
  partial,
  plaintextSha256: h(plain),
  plaintextSizeBytes: 16,
  copies: copies.map(([location, sha]) => ({ location, sha256: h(sha) })),
});
const A = '000000010000000000000002';
const B = '000000010000000000000003';

describe('WAL checked against the ledger', () => {
  it('keeps a file whose copies hold the recorded version, with the copies the ledger recorded', () => {
    const check = checkWalAgainstLedger([file(A, 'a', [['disk', '1'], ['nas', '1']])], [recorded(A, 'a', [['disk', '1'], ['nas', '1']])]);
    expect(check).toEqual({ kept: [file(A, 'a', [['disk', '1'], ['nas', '1']])], refused: [], droppedCopies: [] });
  });

  it('refuses a file whose copies agree with each other but not with the ledger, naming both hashes', () => {
    const check = checkWalAgainstLedger([file(A, 'f', [['disk', '9'], ['nas', '9']]), file(B, 'b', [['disk', '2']])], [recorded(A, 'a', [['disk', '1'], ['nas', '1']]), recorded(B, 'b', [['disk', '2']])]);
    expect(check.kept.map((f) => f.name)).toEqual([B]);
    expect(check.refused).toEqual([{ name: A, reason: expect.stringMatching(new RegExp(`copies \\(disk, nas\\) hold 16 bytes with SHA-256 ${h('f')}, but the ledger recorded 16 bytes with SHA-256 ${h('a')}`)) }]);
  });

  it('refuses a file the ledger never recorded', () => {
    expect(checkWalAgainstLedger([file(A, 'a', [['disk', '1']])], []).refused).toEqual([{ name: A, reason: `no WalArchived event in the ledger records ${A}` }]);
  });

  it('leaves out a copy whose stored bytes are not the recorded ones; refuses the file when no copy is left', () => {
    const some = checkWalAgainstLedger([file(A, 'a', [['disk', '7'], ['nas', '1']])], [recorded(A, 'a', [['disk', '1'], ['nas', '1']])]);
    expect(some.kept[0]!.copies.map((c) => c.location)).toEqual(['nas']);
    expect(some.droppedCopies).toEqual([{ name: A, location: 'disk' }]);
    const none = checkWalAgainstLedger([file(A, 'a', [['disk', '7']])], [recorded(A, 'a', [['disk', '1']])]);
    expect(none.kept).toEqual([]);
    expect(none.refused[0]!.reason).toContain('none of its copies (disk) holds the stored bytes the ledger recorded');
  });

  it('a partial segment shipped several times: any recorded version counts', () => {
    const ledger = [recorded(A, 'p', [['disk', '3']], true), recorded(A, 'q', [['disk', '4']], true)];
    expect(checkWalAgainstLedger([file(A, 'q', [['disk', '4']])], ledger).kept).toHaveLength(1);
    expect([...recordedVersions(ledger).get(A)!]).toEqual([h('p'), h('q')]);
  });
});

describe('checkBaseBackupsAgainstLedger', () => {
  const ledger = [
    { backupId: 'b1', sha256: h('a'), sizeBytes: 100 },
    { backupId: 'b2', sha256: h('b'), sizeBytes: 200 },
  ];

  it('keeps a base backup with a copy listed as its BackupCreated recorded it, and says what was recorded', () => {
    const out = checkBaseBackupsAgainstLedger([{ backupId: 'b1', copies: [{ location: 'x', sha256: h('a'), sizeBytes: 100 }] }], ledger);
    expect([...out.kept]).toEqual([['b1', ledger[0]]]);
    expect(out.refused).toEqual([]);
  });

  it('keeps one whose copies disagree when one of them is listed as recorded (the restore uses only that one)', () => {
    const out = checkBaseBackupsAgainstLedger([{ backupId: 'b2', copies: [{ location: 'x', sha256: h('f'), sizeBytes: 200 }, { location: 'y', sha256: h('b'), sizeBytes: 200 }] }], ledger);
    expect(out.kept.get('b2')).toEqual(ledger[1]);
  });

  it('refuses one the ledger never recorded, and one listed with other bytes or another size, saying both versions', () => {
    const out = checkBaseBackupsAgainstLedger(
      [
        { backupId: 'b9', copies: [{ location: 'x', sha256: h('a'), sizeBytes: 100 }] },
        { backupId: 'b1', copies: [{ location: 'x', sha256: h('c'), sizeBytes: 100 }, { location: 'y', sha256: h('c'), sizeBytes: 100 }] },
        { backupId: 'b2', copies: [{ location: 'x', sha256: h('b'), sizeBytes: 201 }] },
      ],
      ledger,
    );
    expect(out.kept.size).toBe(0);
    expect(out.refused).toEqual([
      { backupId: 'b9', reason: 'no BackupCreated event in the ledger records it' },
      { backupId: 'b1', reason: `its copies are listed with 100 bytes with SHA-256 ${h('c')}, but the ledger recorded 100 bytes with SHA-256 ${h('a')}` },
      { backupId: 'b2', reason: `its copies are listed with 201 bytes with SHA-256 ${h('b')}, but the ledger recorded 200 bytes with SHA-256 ${h('b')}` },
    ]);
  });
});
