import { pgToolInvocation } from './pg-tool.js';

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
