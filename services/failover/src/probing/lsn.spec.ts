import { InvalidLsnError, lsnDiffBytes, parseLsn } from './lsn.js';

describe('parseLsn / lsnDiffBytes', () => {
  it('parses PostgreSQL text LSNs', () => {
    expect(parseLsn('0/3000060')).toBe(0x3000060n);
    expect(parseLsn('16/B374D848')).toBe(0x16b374d848n);
    expect(parseLsn('16/b374d848')).toBe(0x16b374d848n);
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('FFFFFFFF/FFFFFFFF')).toBe(2n ** 64n - 1n);
  });

  it.each(['', '3000060', '0/', '/1', 'G/1', '0/1/2', ' 0/1', '0x0/1', '-1/0', '123456789/0', '0/123456789'])(
    'rejects %j, naming the value',
    (bad) => {
      expect(() => parseLsn(bad)).toThrow(InvalidLsnError);
      expect(() => parseLsn(bad)).toThrow(`invalid LSN ${JSON.stringify(bad)}`);
    },
  );

  it('rejects a non-string', () => {
    expect(() => parseLsn(undefined as unknown as string)).toThrow('invalid LSN undefined');
  });

  it('measures bytes between positions like pg_wal_lsn_diff', () => {
    expect(lsnDiffBytes('0/5000000', '0/2000000')).toBe(50331648n);
    expect(lsnDiffBytes('0/2000000', '0/5000000')).toBe(-50331648n);
    expect(lsnDiffBytes('1/0', '0/FFFFFFFF')).toBe(1n);
    expect(() => lsnDiffBytes('0/1', 'nope')).toThrow('invalid LSN "nope"');
  });
});
