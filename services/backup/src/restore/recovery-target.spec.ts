import { parseRecoveryTarget } from './recovery-target.js';

const NOW = new Date('2026-12-01T12:00:00Z');

describe('point-in-time recovery targets', () => {
  it('reads each kind of target', () => {
    expect(parseRecoveryTarget({ at: '2026-12-01T11:00:00.250Z' }, NOW)).toEqual({ kind: 'time', at: new Date('2026-12-01T11:00:00.250Z') });
    expect(parseRecoveryTarget({ at: '2026-12-01T13:00:00+02:00' }, NOW)).toEqual({ kind: 'time', at: new Date('2026-12-01T11:00:00Z') });
    expect(parseRecoveryTarget({ lsn: '0/3000a48' }, NOW)).toEqual({ kind: 'lsn', lsn: '0/3000A48' });
    expect(parseRecoveryTarget({ name: 'before-migration_2026.12' }, NOW)).toEqual({ kind: 'name', name: 'before-migration_2026.12' });
    expect(parseRecoveryTarget({ latest: true }, NOW)).toEqual({ kind: 'latest' });
  });

  it('refuses a time in the future, without a zone, or unparseable', () => {
    expect(() => parseRecoveryTarget({ at: '2026-12-01T12:00:01Z' }, NOW)).toThrow(/in the future/);
    expect(() => parseRecoveryTarget({ at: '2026-12-01T11:00:00' }, NOW)).toThrow(/with a zone/);
    expect(() => parseRecoveryTarget({ at: 'yesterday' }, NOW)).toThrow(/not an ISO 8601/);
    expect(() => parseRecoveryTarget({ at: '2026-13-45T11:00:00Z' }, NOW)).toThrow(/not an ISO 8601/);
  });

  it('refuses an LSN that is not X/Y hex and a restore point name that could break out of its setting', () => {
    for (const lsn of ['0/XYZ', '3000148', '0/3000148/1', '123456789/0', "0/1' restore_command='x"]) {
      expect(() => parseRecoveryTarget({ lsn }, NOW)).toThrow(expect.objectContaining({ code: 'RESTORE.INVALID_TARGET' }));
    }
    for (const name of ['', "p'; restore_command = 'rm", 'a b', '../x', 'x'.repeat(64), '-leading']) {
      expect(() => parseRecoveryTarget({ name }, NOW)).toThrow(/not a restore point name/);
    }
  });

  it('needs exactly one target', () => {
    expect(() => parseRecoveryTarget({}, NOW)).toThrow(/exactly one/);
    expect(() => parseRecoveryTarget({ latest: true, lsn: '0/1' }, NOW)).toThrow(/exactly one/);
  });
});
