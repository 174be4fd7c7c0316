import { decideWalGap, followsChain } from './wal-gap.policy.js';
import { segmentNameAt, segmentStart } from './wal-position.js';

describe('WAL positions', () => {
  it('names the segment holding a position, as pg_walfile_name does', () => {
    expect(segmentNameAt(1, '0/5000A28')).toBe('000000010000000000000005');
    expect(segmentNameAt(2, '1/FF000000')).toBe('0000000200000001000000FF');
    expect(segmentStart('0/5000A28')).toBe('0/5000000');
  });
});

describe('WAL gap decision', () => {
  const tip = { timeline: 1, endLsn: '0/6000000' };

  it('given a slot that survived a restart, when the spool resumes inside what it pins: no gap', () => {
    expect(decideWalGap({ tip, spoolResumeLsn: '0/6000000', slot: { existed: true, restartLsn: '0/6000148' }, slotRestartLsn: '0/6000148', oldestOnServer: null })).toMatchObject({ gap: false });
  });

  it('given nothing archived yet: no gap, whatever the slot', () => {
    expect(decideWalGap({ tip: null, spoolResumeLsn: null, slot: { existed: false, restartLsn: null }, slotRestartLsn: '0/9000028', oldestOnServer: null })).toMatchObject({ gap: false });
  });

  it('given a dropped and recreated slot, when the server recycled the WAL: a gap naming the missing range', () => {
    const decision = decideWalGap({ tip, spoolResumeLsn: null, slot: { existed: false, restartLsn: null }, slotRestartLsn: '0/9000060', oldestOnServer: '0/8000000' });
    expect(decision).toEqual({
      gap: true,
      timeline: 1,
      fromLsn: '0/6000000',
      toLsn: '0/9000000',
      missingSegments: { first: '000000010000000000000006', last: '000000010000000000000008' },
      reason: expect.stringContaining('WAL 0/6000000-0/9000000 (segments 000000010000000000000006..000000010000000000000008) is missing'),
    });
    if (decision.gap) expect(decision.reason).toContain('dropped');
  });

  it('given a dropped slot, when the server still holds the WAL from where the spool resumes: no gap (it can be closed)', () => {
    expect(decideWalGap({ tip, spoolResumeLsn: '0/6000000', slot: { existed: false, restartLsn: null }, slotRestartLsn: '0/9000060', oldestOnServer: '0/5000000' })).toMatchObject({ gap: false });
  });

  it('given a partial segment in the spool: the need starts at that segment, not at the copies\' end', () => {
    const decision = decideWalGap({ tip: { timeline: 1, endLsn: '0/6800000' }, spoolResumeLsn: '0/6000000', slot: { existed: true, restartLsn: '0/7000000' }, slotRestartLsn: '0/7000000', oldestOnServer: '0/7000000' });
    expect(decision).toMatchObject({ gap: true, fromLsn: '0/6000000', toLsn: '0/7000000', missingSegments: { first: '000000010000000000000006', last: '000000010000000000000006' } });
  });

  it('given a slot whose restart_lsn moved past the archive (its spool lost): a gap', () => {
    const decision = decideWalGap({ tip, spoolResumeLsn: null, slot: { existed: true, restartLsn: '0/A000000' }, slotRestartLsn: '0/A000000', oldestOnServer: null });
    expect(decision).toMatchObject({ gap: true, fromLsn: '0/6000000', toLsn: '0/A000000' });
    if (decision.gap) expect(decision.reason).toContain("restart_lsn 0/A000000 is past the end of the archive");
  });

  it('given pg_receivewal refused the WAL as removed: a gap even when the listing looked fine', () => {
    expect(
      decideWalGap({ tip, spoolResumeLsn: '0/6000000', slot: { existed: true, restartLsn: '0/9000000' }, slotRestartLsn: '0/9000000', oldestOnServer: '0/5000000', receiverRefused: true }),
    ).toMatchObject({ gap: true, toLsn: '0/9000000' });
  });

  it('a finished segment follows the chain when it starts at or before its timeline\'s archived end', () => {
    expect(followsChain('0/6000000', '0/6000000')).toBe(true);
    expect(followsChain('0/6800000', '0/6000000')).toBe(true); // the finished form of a segment shipped partial
    expect(followsChain(null, '0/9000000')).toBe(true);
    expect(followsChain('0/6000000', '0/7000000')).toBe(false);
  });
});
