import { Client } from 'pg';
import { flushCommits, withConnection } from '../src/postgres.js';
import { TEST_DATABASE_URL } from '../src/testing.js';

describe('flushCommits', () => {
  afterEach(() => jest.restoreAllMocks());

  it('waits for the disk even on a connection whose options turn synchronous_commit off', async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set('options', '-c synchronous_commit=off');
    const asynchronous = url.toString();
    expect(await withConnection(asynchronous, async (c) => (await c.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]!.synchronous_commit)).toBe('off');

    // A commit that does not wait for the disk, and where the WAL ends after it.
    const written = await withConnection(asynchronous, async (c) => {
      await c.query('BEGIN; SELECT pg_current_xact_id(); COMMIT');
      return (await c.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn() AS lsn')).rows[0]!.lsn;
    });
    const statements: string[] = [];
    const query = Client.prototype.query;
    jest.spyOn(Client.prototype, 'query').mockImplementation(function (this: Client, ...args: unknown[]) {
      if (typeof args[0] === 'string') statements.push(args[0]);
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as never);
    await flushCommits(asynchronous);
    jest.restoreAllMocks();

    // Its own commit waited for the local disk whatever the connection said, and the WAL is flushed past the earlier one.
    expect(statements).toEqual([expect.stringMatching(/^BEGIN; SET LOCAL synchronous_commit = local; SELECT pg_logical_emit_message\(true, .*\); COMMIT$/)]);
    const flushedPast = await withConnection(TEST_DATABASE_URL, async (c) => (await c.query<{ ok: boolean }>('SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn AS ok', [written])).rows[0]!.ok);
    expect(flushedPast).toBe(true);
  });

});
