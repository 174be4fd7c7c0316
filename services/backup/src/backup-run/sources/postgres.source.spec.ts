import type { CatalogTable } from './pg-tables.js';
import { announcements, connectionFor, countAsDumped } from './postgres.source.js';

describe('connectionFor', () => {
  it('keeps the connection when no database is named', () => {
    expect(connectionFor({ connection: 'postgres://u@h:5432/orders' })).toBe('postgres://u@h:5432/orders');
  });

  it('replaces the database of a URL, encoding it', () => {
    expect(connectionFor({ connection: 'postgres://u:p@h:5432/postgres?sslmode=require', database: 'orders eu' })).toBe(
      'postgres://u:p@h:5432/orders%20eu?sslmode=require',
    );
  });

  it('appends dbname to a key=value connection string, quoted', () => {
    expect(connectionFor({ connection: 'host=h user=u', database: "o'rders" })).toBe("host=h user=u dbname='o\\'rders'");
  });
});

describe('countAsDumped', () => {
  const table = (schema: string, name: string, relkind: 'r' | 'p' = 'r'): CatalogTable => ({ schema, name, relkind, extension: false });
  const catalog = [table('public', 'orders'), table('public', 'items'), table('Sales Ops', 'Weird Name'), table('public', 'measurements', 'p'), table('public', 'late')];
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  /** A count per table that ends when the test says so. */
  const gatedCounts = () => {
    const counted: string[] = [];
    const gates: (() => void)[] = [];
    return {
      counted,
      count: (t: CatalogTable) => {
        counted.push(`${t.schema}.${t.name}`);
        return new Promise<string>((resolve) => gates.push(() => resolve(String(counted.length * 10))));
      },
      /** Ends the count running now. */
      release: () => gates.shift()?.(),
    };
  };

  it('counts ahead in the order pg_dump copies until it is heard starting a table, then each table once it starts copying it, and the rest after it exited cleanly', async () => {
    const started = announcements();
    let exit!: () => void;
    const exited = new Promise<void>((resolve) => (exit = resolve));
    const { counted, count, release } = gatedCounts();
    const result = countAsDumped(catalog, started, exited, count);
    await settle();
    expect(counted).toEqual(['Sales Ops.Weird Name']); // pg_dump reads its catalogue: first in its order (byte order: "S" < "p")
    release();
    await settle();
    expect(counted).toEqual(['Sales Ops.Weird Name', 'public.items']);
    started.push('Sales Ops.Weird Name'); // already counted
    started.push('public.orders');
    release(); // items done: from now on, only what pg_dump started
    await settle();
    expect(counted).toEqual(['Sales Ops.Weird Name', 'public.items', 'public.orders']);
    release();
    await settle();
    expect(counted).toHaveLength(3); // "late" is not started yet
    started.push('pg_catalog.not_ours');
    started.end();
    await settle();
    expect(counted).toHaveLength(3); // nor heard: it waits for pg_dump's exit
    exit();
    await settle();
    expect(counted).toEqual(['Sales Ops.Weird Name', 'public.items', 'public.orders', 'public.late']);
    release();
    expect(await result).toEqual([
      { schema: 'Sales Ops', name: 'Weird Name', rows: 10 },
      { schema: 'public', name: 'items', rows: 20 },
      { schema: 'public', name: 'late', rows: 40 },
      { schema: 'public', name: 'measurements', rows: null },
      { schema: 'public', name: 'orders', rows: 30 },
    ]);
  });

  it('fails with the first failed count, counting nothing after it', async () => {
    const started = announcements();
    ['public.orders', 'public.items', 'public.late', 'Sales Ops.Weird Name'].forEach(started.push);
    started.end();
    const counted: string[] = [];
    await expect(
      countAsDumped(catalog, started, Promise.resolve(), async (t) => {
        counted.push(t.name);
        if (t.name === 'items') throw new Error('terminating connection due to administrator command');
        return '1';
      }),
    ).rejects.toThrow('terminating connection due to administrator command');
    expect(counted).toEqual(['orders', 'items']);
  });

  it('counts nothing more, and fails, when pg_dump failed with tables left to count', async () => {
    const started = announcements();
    started.push('public.orders');
    started.end();
    const counted: string[] = [];
    await expect(countAsDumped(catalog, started, Promise.reject(new Error('pg_dump exited with 1')), async (t) => (counted.push(t.name), '1'))).rejects.toThrow('pg_dump exited with 1');
    expect(counted).toEqual(['orders']);
  });
});
