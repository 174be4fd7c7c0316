import type { CatalogTable } from './pg-tables.js';
import { connectionFor, countAsDumped } from './postgres.source.js';

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
  /** pg_dump's announcements as the test pushes them; `finish` ends them. */
  const announcements = () => {
    const pushed: string[] = [];
    let wake: (() => void) | null = null;
    let ended = false;
    return {
      push: (name: string) => void (pushed.push(name), wake?.()),
      finish: () => void ((ended = true), wake?.()),
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const next = pushed.shift();
          if (next !== undefined) yield next;
          else if (ended) return;
          else await new Promise<void>((resolve) => (wake = resolve));
        }
      },
    };
  };
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  it('counts each table once pg_dump starts copying it, in its order, and the tables it was not heard starting after it exited cleanly', async () => {
    const started = announcements();
    let exit!: () => void;
    const exited = new Promise<void>((resolve) => (exit = resolve));
    const counted: string[] = [];
    const result = countAsDumped(catalog, started, exited, async (t) => (counted.push(`${t.schema}.${t.name}`), String(counted.length * 10)));
    await settle();
    expect(counted).toEqual([]); // nothing before pg_dump copies
    started.push('public.items');
    await settle();
    expect(counted).toEqual(['public.items']);
    started.push('pg_catalog.not_ours');
    started.push('Sales Ops.Weird Name');
    started.push('public.orders');
    started.finish();
    await settle();
    expect(counted).toEqual(['public.items', 'Sales Ops.Weird Name', 'public.orders']); // "late" waits for the exit
    exit();
    expect(await result).toEqual([
      { schema: 'Sales Ops', name: 'Weird Name', rows: 20 },
      { schema: 'public', name: 'items', rows: 10 },
      { schema: 'public', name: 'late', rows: 40 },
      { schema: 'public', name: 'measurements', rows: null },
      { schema: 'public', name: 'orders', rows: 30 },
    ]);
  });

  it('fails with the first failed count, counting nothing after it', async () => {
    const started = announcements();
    ['public.orders', 'public.items', 'public.late', 'Sales Ops.Weird Name'].forEach(started.push);
    started.finish();
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
    started.finish();
    const counted: string[] = [];
    await expect(countAsDumped(catalog, started, Promise.reject(new Error('pg_dump exited with 1')), async (t) => (counted.push(t.name), '1'))).rejects.toThrow('pg_dump exited with 1');
    expect(counted).toEqual(['orders']);
  });
});
