import type { ArchivedWal } from './pitr-plan.policy.js';
import { chooseWalVersions } from './wal-versions.policy.js';

const SEG = '000000010000000000000003';
const at = '2026-12-01T10:00:00.000Z';
const copy = (location: string, sha = 'c'.repeat(64)) => ({ location, sha256: sha, sizeBytes: 100 });
const wal = (over: Partial<ArchivedWal> & { endLsn: string }, locations = ['a', 'b', 'c']): ArchivedWal => ({
  name: SEG,
  kind: 'segment',
  timeline: 1,
  startLsn: '0/3000000',
  partial: true,
  plaintextSha256: over.endLsn.replace(/\W/g, '').padStart(64, '0').toLowerCase(),
  plaintextSizeBytes: 16 << 20,
  archivedAt: at,
  copies: locations.map((l) => copy(l)),
  ...over,
});
const v = (bytes: number, locations?: string[]) =>
  wal({ object: `${SEG}.partial.${bytes.toString(16).toUpperCase().padStart(8, '0')}`, endLsn: `0/${(0x3000000 + bytes).toString(16).toUpperCase()}` }, locations);
const holding = (n: number, name = SEG) => new Map([[name, n]]);

describe('chooseWalVersions: the version of each WAL file a restore plans on', () => {
  it('the newest partial version every copy holds, naming its object', () => {
    const { files, passedOver } = chooseWalVersions([v(0x1000), v(0x8000), v(0x2000)], { locationsHolding: holding(3) });
    expect(files.map((f) => f.object)).toEqual([`${SEG}.partial.00008000`]);
    expect(passedOver).toEqual([]);
  });

  it('the finished segment over every partial version, however many there are', () => {
    const finished = wal({ partial: false, endLsn: '0/4000000' });
    expect(chooseWalVersions([v(0x1000), finished, v(0x8000)], { locationsHolding: holding(3) }).files).toEqual([finished]);
  });

  it('a "newer" version only one of the copies holding the segment holds (put there by a stranger, or still being shipped) is passed over, and said', () => {
    const forged = v(0xf000, ['a']);
    const { files, passedOver } = chooseWalVersions([v(0x1000), forged, v(0x2000)], { locationsHolding: holding(3) });
    expect(files.map((f) => f.object)).toEqual([`${SEG}.partial.00002000`]);
    expect(passedOver).toEqual([{ name: SEG, object: forged.object, reason: `only a of the 3 copy locations holding ${SEG} hold it` }]);
    // Two copies holding the segment: one of them is not most of them either.
    expect(chooseWalVersions([v(0x1000, ['a', 'b']), v(0xf000, ['a'])], { locationsHolding: holding(2) }).files.map((f) => f.object)).toEqual([`${SEG}.partial.00001000`]);
  });

  it('with one copy location left (the others lost or unreadable), the versions it holds are used', () => {
    expect(chooseWalVersions([v(0x1000, ['a']), v(0x2000, ['a'])], { locationsHolding: holding(1) }).files.map((f) => f.object)).toEqual([`${SEG}.partial.00002000`]);
  });

  it('with the ledger: the newest version it recorded, a newer unrecorded one passed over and said; none recorded: the newest (the ledger check refuses it)', () => {
    const older = v(0x1000);
    const unrecorded = v(0x9000);
    const recorded = new Map([[SEG, new Set([older.plaintextSha256])]]);
    const { files, passedOver } = chooseWalVersions([older, unrecorded], { locationsHolding: holding(3), recorded });
    expect(files).toEqual([older]);
    expect(passedOver).toEqual([{ name: SEG, object: unrecorded.object, reason: 'no WalArchived event in the ledger records it' }]);
    expect(chooseWalVersions([older, unrecorded], { locationsHolding: holding(3), recorded: new Map() }).files).toEqual([unrecorded]);
  });

  it('an archive from before versions: the partial segment under the plain name is a version like the others, and still restores alone', () => {
    const legacy = wal({ endLsn: '0/3000800' });
    expect(chooseWalVersions([legacy], { locationsHolding: holding(3) }).files).toEqual([legacy]);
    expect(chooseWalVersions([legacy, v(0x1000)], { locationsHolding: holding(3) }).files.map((f) => f.object)).toEqual([`${SEG}.partial.00001000`]);
    expect(chooseWalVersions([wal({ endLsn: '0/3008000' }), v(0x1000)], { locationsHolding: holding(3) }).files[0]!.object).toBeUndefined();
  });

  it('every other file passes through, one record per name', () => {
    const history = wal({ name: '00000002.history', kind: 'history', timeline: 2, partial: false, startLsn: '0/3000000', endLsn: '0/3000000' });
    const next = wal({ name: '000000010000000000000002', partial: false, startLsn: '0/2000000', endLsn: '0/3000000' });
    const { files } = chooseWalVersions([history, next, v(0x1000)], { locationsHolding: holding(3) });
    expect(files.map((f) => f.object ?? f.name).sort()).toEqual(['000000010000000000000002', `${SEG}.partial.00001000`, '00000002.history']);
  });

  describe('attack: a stranger writes one copy location', () => {
    it('a forged partial under the plain name (as archives before versions stored them) does not outvote the version every copy holds', () => {
      const forged = wal({ endLsn: '0/3FFF000' }, ['a']);
      const { files, passedOver } = chooseWalVersions([v(0x2000), forged], { locationsHolding: holding(3) });
      expect(files.map((f) => f.object)).toEqual([`${SEG}.partial.00002000`]);
      expect(passedOver).toEqual([{ name: SEG, object: SEG, reason: `only a of the 3 copy locations holding ${SEG} hold it` }]);
    });

    it('a forged finished segment in one copy does not replace the partial version every copy holds', () => {
      const forged = wal({ partial: false, endLsn: '0/4000000' }, ['b']);
      expect(chooseWalVersions([v(0x2000), forged], { locationsHolding: holding(3) }).files.map((f) => f.object)).toEqual([`${SEG}.partial.00002000`]);
    });

    it('a partial under the plain name in a minority of copies loses to recorded versions with the ledger too', () => {
      const forged = wal({ endLsn: '0/3FFF000' }, ['c']);
      const honest = v(0x2000);
      const { files } = chooseWalVersions([honest, forged], { locationsHolding: holding(3), recorded: new Map([[SEG, new Set([honest.plaintextSha256, forged.plaintextSha256])]]) });
      expect(files).toEqual([honest]);
    });
  });
});
