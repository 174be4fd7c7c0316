import { parse } from 'pg-connection-string';
import { connectionFor } from './postgres.source.js';
import {
  CatalogTable,
  clientConfigFor,
  countSettingsSql,
  countSql,
  dumpedName,
  inDumpOrder,
  isProgressLine,
  keptForFailure,
  lockSql,
  qualifiedName,
  quoteIdent,
  tableCounts,
  tableDumpStarted,
  tablesToCount,
} from './pg-tables.js';

describe('quoting identifiers', () => {
  it('always double-quotes, doubling embedded quotes', () => {
    expect(quoteIdent('orders')).toBe('"orders"');
    expect(quoteIdent('Weird Name')).toBe('"Weird Name"');
    expect(quoteIdent('say "hi"')).toBe('"say ""hi"""');
    expect(quoteIdent('ünï.cödé;--')).toBe('"ünï.cödé;--"');
  });

  it('qualifies with the schema and counts ONLY the table itself (as pg_dump copies it)', () => {
    expect(qualifiedName({ schema: 'My Schema', name: 'a"b' })).toBe('"My Schema"."a""b"');
    expect(countSql({ schema: 'public', name: 'Weird Name' })).toBe('SELECT count(*)::text AS n FROM ONLY "public"."Weird Name"');
  });

  it('locks ONLY the counted tables, all in one statement, or nothing', () => {
    expect(lockSql([{ schema: 'public', name: 'a' }, { schema: 'x y', name: 'B' }])).toBe('LOCK TABLE ONLY "public"."a", ONLY "x y"."B" IN ACCESS SHARE MODE');
    expect(lockSql([])).toBeNull();
  });
});

describe('the manifest table list', () => {
  const catalog: CatalogTable[] = [
    { schema: 'public', name: 'orders', relkind: 'r', extension: false },
    { schema: 'billing', name: 'invoice lines', relkind: 'r', extension: false },
    { schema: 'public', name: 'Weird Name', relkind: 'r', extension: false },
    { schema: 'public', name: 'measurements', relkind: 'p', extension: false },
    { schema: 'public', name: 'measurements_2025', relkind: 'r', extension: false },
    { schema: 'Archive', name: 'z', relkind: 'r', extension: false },
    { schema: 'public', name: 'spatial_ref_sys', relkind: 'r', extension: true },
  ];
  const counts = new Map<string, string | number>([
    ['"public"."orders"', '5000'],
    ['"billing"."invoice lines"', '20'],
    ['"public"."Weird Name"', 3],
    ['"public"."measurements_2025"', '0'],
    ['"Archive"."z"', '9007199254740991'],
  ]);

  it('counts only tables holding rows of their own (not partitioned parents) that the dump holds (not an extension\'s)', () => {
    expect(tablesToCount(catalog).map((t) => t.name)).toEqual(['orders', 'invoice lines', 'Weird Name', 'measurements_2025', 'z']);
  });

  it('lists every table sorted by schema then name (code-unit order), partitioned parents with rows null, no extension\'s tables', () => {
    expect(tableCounts(catalog, counts)).toEqual([
      { schema: 'Archive', name: 'z', rows: 9007199254740991 },
      { schema: 'billing', name: 'invoice lines', rows: 20 },
      { schema: 'public', name: 'Weird Name', rows: 3 },
      { schema: 'public', name: 'measurements', rows: null },
      { schema: 'public', name: 'measurements_2025', rows: 0 },
      { schema: 'public', name: 'orders', rows: 5000 },
    ]);
    expect(tableCounts([], new Map())).toEqual([]);
  });

  it('refuses a table without a count, or a count that is not an exact non-negative integer', () => {
    expect(() => tableCounts(catalog, new Map([...counts].filter(([k]) => k !== '"public"."Weird Name"')))).toThrow('no row count for table "public"."Weird Name" (got undefined)');
    expect(() => tableCounts([{ schema: 'a', name: 'b', relkind: 'r', extension: false }], new Map([['"a"."b"', '9007199254740993']]))).toThrow(/no row count/);
    expect(() => tableCounts([{ schema: 'a', name: 'b', relkind: 'r', extension: false }], new Map([['"a"."b"', 'x']]))).toThrow(/no row count/);
  });
});

describe('clientConfigFor', () => {
  const parsed = (connection: string) => {
    const { connectionString } = clientConfigFor(connection);
    return parse(connectionString!) as Record<string, unknown>;
  };

  it('passes URLs through', () => {
    expect(clientConfigFor('postgres://u@h:5432/orders?sslmode=disable')).toEqual({ connectionString: 'postgres://u@h:5432/orders?sslmode=disable' });
    expect(clientConfigFor('postgresql://u@h/orders')).toEqual({ connectionString: 'postgresql://u@h/orders' });
  });

  it('reads a libpq keyword/value string, quoted values and escapes included, as node-postgres will', () => {
    expect(parsed("host=db.internal port=6543 user=backup password='p w\\'d\\\\' dbname='o\\'rders eu/1;@%' application_name = nightly")).toMatchObject({
      host: 'db.internal',
      port: '6543',
      user: 'backup',
      password: "p w'd\\",
      database: "o'rders eu/1;@%",
      application_name: 'nightly',
    });
    expect(parsed('host=/var/run/postgresql dbname=ünïcode')).toMatchObject({ host: '/var/run/postgresql', database: 'ünïcode' });
    expect(parsed('host=h user=u')).toMatchObject({ host: 'h', user: 'u', database: null });
  });

  it('takes the connection connectionFor builds for a named database', () => {
    expect(parsed(connectionFor({ connection: 'host=h user=u', database: "o'rders" }))).toMatchObject({ host: 'h', user: 'u', database: "o'rders" });
  });

  it('refuses what it cannot represent or read', () => {
    expect(() => clientConfigFor('host=h dbname=a?b')).toThrow(/"\?" or "#"/);
    expect(() => clientConfigFor("host='h")).toThrow('unterminated quoted value of "host"');
    expect(() => clientConfigFor('host h')).toThrow(/expected "keyword=value"/);
  });
});

describe('counting beside pg_dump', () => {
  it('counts serially, without JIT (from PostgreSQL 11), by a sequential scan', () => {
    expect(countSettingsSql(150000)).toBe(
      'SET max_parallel_workers_per_gather = 0; SET jit = off; SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off',
    );
    expect(countSettingsSql(100023)).not.toMatch(/jit/);
  });

  it('orders tables as pg_dump copies them: by schema, then name, in byte order', () => {
    const tables = [
      { schema: 'public', name: 'orders' },
      { schema: 'public', name: 'Zebra' },
      { schema: 'Sales Ops', name: 'x' },
      { schema: 'public', name: 'épée' },
      { schema: 'public', name: 'items' },
    ];
    expect(inDumpOrder(tables).map(dumpedName)).toEqual(['Sales Ops.x', 'public.Zebra', 'public.items', 'public.orders', 'public.épée']);
    expect(tables[0]!.name).toBe('orders'); // a sorted copy
  });

  it("hears which table pg_dump --verbose starts copying, by pg_dump's name for it, and nothing else", () => {
    expect(tableDumpStarted('pg_dump: dumping contents of table "public.pgbench_accounts"')).toBe('public.pgbench_accounts');
    expect(tableDumpStarted('pg_dump: dumping contents of table "Sales Ops.quote"d"')).toBe('Sales Ops.quote"d');
    expect(dumpedName({ schema: 'Sales Ops', name: 'quote"d' })).toBe('Sales Ops.quote"d');
    expect(tableDumpStarted('pg_dump: reading indexes for table "public.orders"')).toBeNull();
    expect(tableDumpStarted('pg_dump: error: dumping contents of table "public.orders"')).toBeNull();
    expect(tableDumpStarted('pg_dump: Inhalt der Tabelle »public.orders« wird ausgegeben')).toBeNull();
  });

  it("drops pg_dump 15's --verbose progress lines and nothing else: errors, details and messages it does not recognise stay", () => {
    for (const line of [
      'pg_dump: last built-in OID is 16383',
      'pg_dump: reading extensions',
      'pg_dump: identifying extension members',
      'pg_dump: reading schemas',
      'pg_dump: reading user-defined tables',
      'pg_dump: finding extension tables',
      'pg_dump: finding inheritance relationships',
      'pg_dump: reading column info for interesting tables',
      'pg_dump: flagging inherited columns in subtables',
      'pg_dump: flagging indexes in partitioned tables',
      'pg_dump: reading row-level security policies',
      'pg_dump: saving encoding = UTF8',
      'pg_dump: saving standard_conforming_strings = on',
      'pg_dump: saving search_path = ',
      'pg_dump: saving database definition',
      'pg_dump: saving large objects',
      'pg_dump: processing data for table "public.orders"',
      'pg_dump: dumping contents of table "public.orders"',
    ])
      expect([line, isProgressLine(line)]).toEqual([line, true]);
    for (const line of [
      'pg_dump: error: query failed: ERROR:  canceling statement due to statement timeout',
      'pg_dump: detail: Query was: LOCK TABLE public.empty_one IN ACCESS SHARE MODE',
      'pg_dump: fatal: could not connect',
      'pg_dump: warning: there are circular foreign-key constraints on this table:',
      'pg_dump: hint: You might not be able to restore the dump without using --disable-triggers',
      'pg_dump: Fehler: Anfrage fehlgeschlagen: ERROR:  canceling statement due to statement timeout',
      'pg_dump: Inhalt der Tabelle »public.orders« wird ausgegeben',
      'pg_dump: [archiver (db)] query failed: ERROR:  permission denied for table orders',
      'LINE 1: LOCK TABLE',
      '',
    ])
      expect([line, isProgressLine(line)]).toEqual([line, false]);
  });

  const failureOf = (stderr: string) => {
    let kept = true;
    return stderr
      .split('\n')
      .filter((line) => (kept = keptForFailure(line, kept)))
      .join('\n');
  };

  it("keeps for the failure pg_dump's messages that are not progress, with the lines continuing them", () => {
    const stderr = [
      'pg_dump: reading schemas',
      'pg_dump: dumping contents of table "public.orders"',
      'pg_dump: error: connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed: FATAL:  terminating connection',
      'server closed the connection unexpectedly',
      '\tThis probably means the server terminated abnormally',
      'pg_dump: Fehler: etwas Unbekanntes',
      'pg_dump: detail: Query was: COPY public.orders TO stdout;',
      'pg_dump: reading indexes',
    ].join('\n');
    expect(failureOf(stderr)).toBe(
      [
        'pg_dump: error: connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed: FATAL:  terminating connection',
        'server closed the connection unexpectedly',
        '\tThis probably means the server terminated abnormally',
        'pg_dump: Fehler: etwas Unbekanntes',
        'pg_dump: detail: Query was: COPY public.orders TO stdout;',
      ].join('\n'),
    );
    expect(failureOf('could not find a "pg_dump" to execute\npg_dump: reading schemas')).toBe('could not find a "pg_dump" to execute');
  });

  it('keeps no line of a table name printed in a progress line, however the name spells it', () => {
    const hostile = 'x\npg_dump: dumping contents of table "public.y\nLOCK TABLE ... canceling statement due to statement timeout\nmore';
    const stderr = [
      'pg_dump: reading schemas',
      `pg_dump: dumping contents of table "public.${hostile}"`,
      'pg_dump: dumping contents of table "public.z"',
      'pg_dump: error: Dumping the contents of table "z" failed: PQgetResult() failed.',
      'pg_dump: detail: Error message from server: server closed the connection unexpectedly',
    ].join('\n');
    const failure = failureOf(stderr);
    expect(failure).toBe(
      [
        'pg_dump: error: Dumping the contents of table "z" failed: PQgetResult() failed.',
        'pg_dump: detail: Error message from server: server closed the connection unexpectedly',
      ].join('\n'),
    );
    expect(failure).not.toMatch(/statement timeout/);
    expect(failure).not.toMatch(/LOCK TABLE/);
  });
});
