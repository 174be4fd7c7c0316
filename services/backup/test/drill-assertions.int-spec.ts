import { Client } from 'pg';
import { createTestDatabase } from '@continuity/runtime/testing';
import { checkScratchDatabase } from '../src/drills/scratch-checks.js';

/**
 * A drill's SQL assertions run against the scratch copy read-only. The attack: an assertion that
 * turns read-only off, or smuggles a second statement, to change the data it is meant to check.
 */
describe("drill assertions are read-only (real PostgreSQL)", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const count = async () => {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    try {
      return Number((await client.query('select count(*) as n from orders')).rows[0].n);
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase('drillro');
    const client = new Client({ connectionString: db.url });
    await client.connect();
    await client.query('create table orders (id int); insert into orders values (1), (2)');
    await client.end();
  });
  afterAll(() => db.drop());

  it('passes a true assertion and refuses writes, several statements and turning read-only off', async () => {
    const checks = await checkScratchDatabase(db.url, null, [
      { name: 'orders present', sql: 'select count(*) = 2 from orders' },
      { name: 'a write', sql: 'with gone as (delete from orders returning 1) select true' },
      { name: 'two statements', sql: 'set default_transaction_read_only = off; delete from orders; select true' },
      { name: 'read-only off', sql: "select set_config('transaction_read_only', 'off', false) is not null" },
    ], 10_000);
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName['orders present']).toMatchObject({ ok: true });
    expect(byName['a write']).toMatchObject({ ok: false, detail: expect.stringMatching(/read-only/) });
    expect(byName['two statements']).toMatchObject({ ok: false, detail: expect.stringMatching(/multiple commands|prepared statement/) });
    expect(byName['read-only off']).toMatchObject({ ok: false });
    expect(await count()).toBe(2);
  });
});
