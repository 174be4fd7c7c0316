import { pgToolInvocation, untranslatedMessages } from './pg-tool.js';

describe('pgToolInvocation', () => {
  it('puts the password in PGPASSWORD, never in argv (URL, ?password= and conninfo forms)', () => {
    for (const connection of [
      'postgres://backup:s3cr%40t-pw@db.internal:5432/orders',
      'postgres://backup@db.internal:5432/orders?password=s3cr%40t-pw',
      "host=db.internal user=backup password='s3cr@t-pw' dbname=orders",
    ]) {
      const { args, env } = pgToolInvocation(connection, ['--format=custom', '--no-password'], { PATH: '/usr/bin' });
      expect(args.join(' ')).not.toContain('s3cr');
      expect(args[0]).toMatch(/^--dbname=/);
      expect(args.slice(1)).toEqual(['--format=custom', '--no-password']);
      expect(env).toEqual({ PATH: '/usr/bin', PGPASSWORD: 's3cr@t-pw' });
    }
  });

  it('leaves the environment alone when the connection carries no password (PGPASSWORD or ~/.pgpass may hold it)', () => {
    expect(pgToolInvocation('postgres://backup@db/orders', [], { PGPASSWORD: 'from-env' })).toEqual({
      args: ['--dbname=postgres://backup@db/orders'],
      env: { PGPASSWORD: 'from-env' },
    });
  });
});

describe('untranslatedMessages', () => {
  it('sets LC_MESSAGES=C and removes what overrides it (LC_ALL, LANGUAGE), keeping LC_ALL\'s locale as LC_CTYPE', () => {
    expect(untranslatedMessages({ PATH: '/usr/bin', LC_ALL: 'de_DE.UTF-8', LANGUAGE: 'de', LC_MESSAGES: 'de_DE.UTF-8', LC_CTYPE: 'C' })).toEqual({
      PATH: '/usr/bin',
      LC_CTYPE: 'de_DE.UTF-8',
      LC_MESSAGES: 'C',
    });
    expect(untranslatedMessages({ PATH: '/usr/bin', LANG: 'fr_FR.UTF-8', LC_CTYPE: 'fr_FR.UTF-8', LANGUAGE: 'fr' })).toEqual({
      PATH: '/usr/bin',
      LANG: 'fr_FR.UTF-8',
      LC_CTYPE: 'fr_FR.UTF-8',
      LC_MESSAGES: 'C',
    });
    expect(untranslatedMessages({ LC_ALL: '' })).toEqual({ LC_MESSAGES: 'C' });
  });
});
