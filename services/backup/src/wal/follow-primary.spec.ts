import { connectionAt } from './follow-primary.js';

describe('the archive connection follows the primary', () => {
  it('moves a URL to the route\'s host and port, keeping user, password, database and parameters', () => {
    expect(connectionAt('postgres://backup:pw@10.0.0.5:5432/postgres?sslmode=require', { host: '10.0.0.6', port: 5433 })).toBe('postgres://backup:pw@10.0.0.6:5433/postgres?sslmode=require');
    // A host smuggled in the parameters does not survive: the route decides.
    expect(connectionAt('postgres://backup@db/postgres?host=evil&port=1', { host: 'db-b', port: 5432 })).toBe('postgres://backup@db-b:5432/postgres');
  });

  it('moves a conninfo string, replacing host, hostaddr and port', () => {
    expect(connectionAt("host=db-a hostaddr=10.0.0.5 port=5432 user=backup password='p w'", { host: 'db-b', port: 5433 })).toBe("user=backup password='p w' host=db-b port=5433");
  });
});
