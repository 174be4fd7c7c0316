import { libpqConnection, redactSecrets } from './secrets.js';

describe('redactSecrets', () => {
  it('hides passwords in URLs, query strings and conninfo, and nothing else', () => {
    expect(redactSecrets('connect to postgres://backup:s3cr%40t@db.internal:5432/orders failed')).toBe('connect to postgres://backup:***@db.internal:5432/orders failed');
    expect(redactSecrets('postgres://db/orders?sslmode=require&password=hunter2')).toBe('postgres://db/orders?sslmode=require&password=***');
    expect(redactSecrets("host=db user=backup password='it''s secret' dbname=orders")).toContain('password=***');
    expect(redactSecrets('host=db password=hunter2 dbname=orders')).toBe('host=db password=*** dbname=orders');
    expect(redactSecrets('nats://a:4222,nats://b:4222')).toBe('nats://a:4222,nats://b:4222');
    expect(redactSecrets('postgres://backup@db/orders')).toBe('postgres://backup@db/orders');
  });
});

describe('libpqConnection', () => {
  it('moves the password from the URL to PGPASSWORD', () => {
    expect(libpqConnection('postgres://backup:s3cr%40t@db:5432/orders?sslmode=require')).toEqual({
      dbname: 'postgres://backup@db:5432/orders?sslmode=require',
      env: { PGPASSWORD: 's3cr@t' },
    });
    expect(libpqConnection('postgresql://db/orders?password=x&application_name=continuity')).toEqual({
      dbname: 'postgresql://db/orders?application_name=continuity',
      env: { PGPASSWORD: 'x' },
    });
  });

  it('leaves a connection without a password alone, and takes one out of a conninfo string', () => {
    expect(libpqConnection('postgres://postgres@127.0.0.1:5432/continuity')).toEqual({ dbname: 'postgres://postgres@127.0.0.1:5432/continuity', env: {} });
    expect(libpqConnection("host=db password='a b' dbname=orders")).toEqual({ dbname: 'host=db dbname=orders', env: { PGPASSWORD: 'a b' } });
  });
});
