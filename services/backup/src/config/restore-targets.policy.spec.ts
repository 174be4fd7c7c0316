import { isInside, parsePostgresEndpoint, PostgresEndpoint, postgresRuleMatches, postgresUrlOf } from './restore-targets.policy.js';

const endpoint = (text: string, rule = false): PostgresEndpoint => {
  const parsed = parsePostgresEndpoint(text, { rule });
  if ('error' in parsed) throw new Error(parsed.error);
  return parsed;
};

describe('restore targets policy', () => {
  const rule = endpoint('postgres://postgres@db.internal:5432/orders_restore*', true);
  const allows = (target: string) => postgresRuleMatches(rule, endpoint(target));

  it('matches host, port, user and database pattern; the password only authenticates', () => {
    expect(allows('postgres://postgres@db.internal:5432/orders_restore_1')).toBe(true);
    expect(allows('postgres://postgres:anything@DB.internal/orders_restore')).toBe(true); // default port 5432, host case-insensitive
    expect(allows('postgres://postgres@db.internal:5432/orders')).toBe(false);
    expect(allows('postgres://postgres@db.internal:5433/orders_restore_1')).toBe(false);
    expect(allows('postgres://postgres@other.internal:5432/orders_restore_1')).toBe(false);
    expect(allows('postgres://intruder:secret@db.internal:5432/orders_restore_1')).toBe(false);
    expect(allows('postgres://db.internal:5432/orders_restore_1')).toBe(false); // libpq would pick the OS user
    expect(postgresRuleMatches(endpoint('postgres://db.internal/x', true), endpoint('postgres://anyone@db.internal/x'))).toBe(true);
  });

  it('refuses what could point the connection elsewhere: host lists, libpq parameters, odd hosts', () => {
    for (const [target, error] of [
      ['postgres://postgres@db.internal/orders_restore_1?host=evil.example', /parameter "host" is not accepted/],
      ['postgres://postgres@db.internal/orders_restore_1?service=prod', /parameter "service"/],
      ['postgres://postgres@db.internal/orders_restore_1?dbname=orders', /parameter "dbname"/],
      ['postgres://postgres@db.internal:5432,evil:5432/orders_restore_1', /not a valid URL/],
      ['postgres://postgres@db.internal%2Cevil/orders_restore_1', /must be one host name or IP address/],
      ['postgres:///orders_restore_1', /must name the server/],
      ['postgres://db.internal', /must name the database/],
    ] as const) {
      expect(parsePostgresEndpoint(target)).toEqual({ error: expect.stringMatching(error) });
    }
  });

  it('rebuilds the URL from the matched parts (safe parameters and the password kept)', () => {
    expect(postgresUrlOf(endpoint('postgresql://postgres:p%40ss@DB.internal/orders_restore_1?sslmode=require&password=ignored'))).toBe(
      'postgres://postgres:p%40ss@db.internal:5432/orders_restore_1?sslmode=require',
    );
  });

  it('configured rules carry neither a password nor parameters', () => {
    expect(parsePostgresEndpoint('postgres://postgres:secret@db/x*', { rule: true })).toEqual({ error: expect.stringMatching(/must not carry a password/) });
    expect(parsePostgresEndpoint('postgres://postgres@db/x*?sslmode=require', { rule: true })).toEqual({ error: expect.stringMatching(/must not carry query parameters/) });
  });

  it('a directory is allowed when it is a root or inside one, not a sibling sharing its prefix', () => {
    expect(isInside('/srv/restore', '/srv/restore')).toBe(true);
    expect(isInside('/srv/restore', '/srv/restore/uploads/2026')).toBe(true);
    expect(isInside('/srv/restore', '/srv/restore-evil')).toBe(false);
    expect(isInside('/', '/anything')).toBe(true);
  });
});
