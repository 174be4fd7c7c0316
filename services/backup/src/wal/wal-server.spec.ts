import type { Client } from 'pg';
import { pgToolInvocation } from '../backup-run/sources/pg-tool.js';
import { requireSynchronousArchiver, withApplicationName, withSession } from './wal-server.js';

const recording = () => {
  const queries: string[] = [];
  return { client: { query: async (sql: string) => void queries.push(sql) } as unknown as Client, queries };
};

describe('WAL archive server helpers', () => {
  it('names the archiver by application_name in a URL or a conninfo string, the password still only in PGPASSWORD', () => {
    const url = withApplicationName('postgres://backup:s3cret@db:5432/postgres?sslmode=require', 'continuity_orders_db');
    expect(new URL(url).searchParams.get('application_name')).toBe('continuity_orders_db');
    expect(new URL(url).searchParams.get('sslmode')).toBe('require');
    const invocation = pgToolInvocation(url, ['--synchronous'], {});
    expect(invocation.args.join(' ')).not.toContain('s3cret');
    expect(invocation.env.PGPASSWORD).toBe('s3cret');
    expect(withApplicationName("host=db user=backup application_name='old one' password=x", 'continuity_a')).toBe('host=db user=backup password=x application_name=continuity_a');
  });

  it('refuses to write synchronous_standby_names with a name that would need quoting (no injection into ALTER SYSTEM)', async () => {
    const { client, queries } = recording();
    await expect(requireSynchronousArchiver(client, `x"'; ALTER SYSTEM RESET ALL; --`)).rejects.toThrow('not a valid application_name');
    expect(queries).toEqual([]);
    await requireSynchronousArchiver(client, 'continuity_orders_db');
    expect(queries).toEqual([`ALTER SYSTEM SET synchronous_standby_names = '"continuity_orders_db"'`, 'SELECT pg_catalog.pg_reload_conf()']);
  });

  it('never lets the password out in an error', async () => {
    const error = await withSession('postgres://backup:pw-never-shown@127.0.0.1:1/postgres', async () => 1).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect(String((error as Error).message)).not.toContain('pw-never-shown');
  });
});
