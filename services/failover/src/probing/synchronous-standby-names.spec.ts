import { parseSynchronousStandbyNames, synchronousStandbyNames } from './synchronous-standby-names.js';

describe('synchronous_standby_names', () => {
  it('names one standby, quoted, as FIRST 1', () => {
    expect(synchronousStandbyNames('pg-b')).toBe('FIRST 1 ("pg-b")');
    expect(parseSynchronousStandbyNames(synchronousStandbyNames('pg-b'))).toEqual(['pg-b']);
  });

  it('reads every form PostgreSQL accepts, and the empty value as no standby', () => {
    expect(parseSynchronousStandbyNames('')).toEqual([]);
    expect(parseSynchronousStandbyNames('  ')).toEqual([]);
    expect(parseSynchronousStandbyNames('ANY 2 (s1, "S2", s3)')).toEqual(['s1', 'S2', 's3']);
    expect(parseSynchronousStandbyNames('2 (s1,s2)')).toEqual(['s1', 's2']);
    expect(parseSynchronousStandbyNames('Pg_B, *')).toEqual(['pg_b', '*']);
    expect(parseSynchronousStandbyNames('first 1 ("a,b", "say ""hi""")')).toEqual(['a,b', 'say "hi"']);
  });
});
