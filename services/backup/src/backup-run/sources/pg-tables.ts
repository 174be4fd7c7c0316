/**
 * What a PostgreSQL backup records about its tables: every table `pg_dump` dumps, with the rows it
 * holds in the dump's own snapshot (see postgres.source.ts). The verifier's restore test checks
 * each recorded table is restored and holds exactly these rows (`tables present`, `row counts as
 * recorded`). Everything here is pure.
 */
import type { ClientConfig } from 'pg';
import type { TableRowCount } from '@continuity/artifacts';

/**
 * A table as the catalogue lists it: `r` ordinary (a leaf partition is one), `p` partitioned;
 * `extension`: a member of an extension (CREATE EXTENSION makes it, not the dump's data).
 */
export interface CatalogTable {
  schema: string;
  name: string;
  relkind: 'r' | 'p';
  extension: boolean;
}

/**
 * The tables `pg_dump` may lock and dump, in the transaction's snapshot: ordinary and partitioned
 * tables outside the system schemas, not temporary (pg_dump skips them). Those not belonging to
 * an extension are the ones whose data the dump holds (unlogged tables' too: pg_dump's default);
 * foreign tables and materialized views hold no dumped rows.
 */
export const TABLES_SQL = `
  SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
         EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') AS extension
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p')
     AND c.relpersistence <> 't'
     AND n.nspname NOT IN ('pg_catalog', 'information_schema')
     AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'`;

/** An identifier as SQL spells it: always double-quoted, embedded quotes doubled (`"Weird ""Name"""`). */
export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export const qualifiedName = (table: { schema: string; name: string }): string => `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;

/**
 * The rows `pg_dump` copies out of one table: `ONLY` that table (its COPY does not include the rows
 * of inheritance children, which are dumped as tables of their own).
 */
export const countSql = (table: { schema: string; name: string }): string => `SELECT count(*)::text AS n FROM ONLY ${qualifiedName(table)}`;

/** Tables whose rows are counted: those whose own rows the dump holds (a partitioned table holds none). */
export const tablesToCount = (tables: readonly CatalogTable[]): CatalogTable[] => tables.filter((t) => t.relkind === 'r' && !t.extension);

/**
 * Session settings for the counts (see postgres.source.ts): one process each, never JIT-compiled,
 * and a sequential scan of the table. A parallel count (the planner's choice for a large table)
 * spends two to three times the CPU of a serial one to finish sooner, and JIT compiles in every
 * worker. An index-only scan of the primary key (the planner's other choice) costs more CPU than
 * the sequential scan on a table whose pages are all visible (on the benchmark's 6 M rows, 0.46
 * against 0.35 CPU-s beside pg_dump), and reads the index besides the heap pg_dump's COPY reads at
 * the same moment: counted while pg_dump copies the table, the count's sequential scan joins the
 * COPY's (synchronized scans), so both read the table's pages once.
 */
export const countSettingsSql = (serverVersionNum: number): string =>
  [
    'SET max_parallel_workers_per_gather = 0',
    ...(serverVersionNum >= 110000 ? ['SET jit = off'] : []),
    'SET enable_indexscan = off',
    'SET enable_indexonlyscan = off',
    'SET enable_bitmapscan = off',
  ].join('; ');

/**
 * The table whose rows `pg_dump --verbose` says it starts copying, as it spells it (schema and
 * name joined by a dot, unquoted: `public.orders`), or null for any other line. Only the untranslated
 * message is recognised (pg_dump runs with LC_MESSAGES=C); a line it does not recognise is never a table.
 */
export const tableDumpStarted = (line: string): string | null => /^pg_dump: dumping contents of table "(.*)"$/s.exec(line)?.[1] ?? null;

/** How `pg_dump --verbose` names a table in `tableDumpStarted`'s lines. */
export const dumpedName = (table: { schema: string; name: string }): string => `${table.schema}.${table.name}`;

/**
 * Whether a line of pg_dump's stderr is one of its untranslated `--verbose` progress lines
 * (`pg_dump: reading schemas`, `pg_dump: dumping contents of table "public.orders"`, …: those
 * pg_dump 15 prints, and older ones' like them). Anything else — what went wrong (`pg_dump: error:
 * …`, `pg_dump: detail: …`, `pg_dump: fatal: …` before PostgreSQL 15, a server message's further
 * lines), or a message in a language not recognised here — is not.
 */
export const isProgressLine = (line: string): boolean =>
  /^pg_dump: (reading |finding |flagging |identifying |saving |processing |dumping contents of |last built-in OID is )/.test(line);

/**
 * Whether a line of pg_dump's stderr belongs to what the backup's failure says (`keptPrevious`:
 * whether the line before it did; true for the first line). A line starting `pg_dump: ` is kept
 * unless it is a progress line; any other line continues the one before it (a server message's
 * further lines, or a table name holding a newline) and is kept with it — so a name printed in a
 * progress line cannot add lines to the failure.
 */
export const keptForFailure = (line: string, keptPrevious: boolean): boolean => (line.startsWith('pg_dump: ') ? !isProgressLine(line) : keptPrevious);

/**
 * `LOCK TABLE ONLY …` of every table pg_dump may lock (see postgres.source.ts): one statement, so
 * they are all held before any is counted.
 */
export const lockSql = (tables: readonly { schema: string; name: string }[]): string | null =>
  tables.length ? `LOCK TABLE ${tables.map((t) => `ONLY ${qualifiedName(t)}`).join(', ')} IN ACCESS SHARE MODE` : null;

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Tables in the order a (serial) pg_dump copies their rows, as far as it can be told before it
 * starts: its archive sorts table data by schema, then name (byte order).
 */
export const inDumpOrder = <T extends { schema: string; name: string }>(tables: readonly T[]): T[] =>
  [...tables].sort((a, b) => Buffer.compare(Buffer.from(a.schema), Buffer.from(b.schema)) || Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));

/**
 * The manifest's `tables`: every table whose data the dump holds (not an extension's), sorted by
 * schema then name (code-unit order, the same on every machine), each with its row count. A
 * partitioned table's rows are its leaf partitions', listed and counted one by one: it is recorded
 * with `rows: null` (present, nothing of its own to count). Throws when a counted table has no count or a count that is not a safe integer.
 */
export const tableCounts = (tables: readonly CatalogTable[], counts: ReadonlyMap<string, string | number>): TableRowCount[] =>
  tables
    .filter((t) => !t.extension)
    .sort((a, b) => compare(a.schema, b.schema) || compare(a.name, b.name))
    .map((t) => {
      if (t.relkind === 'p') return { schema: t.schema, name: t.name, rows: null };
      const raw = counts.get(qualifiedName(t));
      const rows = typeof raw === 'string' ? Number(raw) : raw;
      if (rows === undefined || !Number.isSafeInteger(rows) || rows < 0) throw new Error(`no row count for table ${qualifiedName(t)} (got ${String(raw)})`);
      return { schema: t.schema, name: t.name, rows };
    });

/**
 * A libpq keyword/value connection string (`host=db user=backup dbname='my db'`) as node-postgres
 * options: the same settings as a `postgres://` URL (so sslmode, sslrootcert, application_name, …
 * mean what they mean in one). Values may be single-quoted, with `\'` and `\\` escapes. URLs are returned
 * as they are. Throws on a malformed string.
 */
export const clientConfigFor = (connection: string): ClientConfig => {
  if (/^postgres(ql)?:\/\//.test(connection)) return { connectionString: connection };
  const params = new URLSearchParams();
  let database: string | null = null;
  let i = 0;
  const s = connection;
  const skipSpace = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  while (true) {
    skipSpace();
    if (i >= s.length) break;
    const keyStart = i;
    while (i < s.length && /[A-Za-z0-9_]/.test(s[i]!)) i++;
    const key = s.slice(keyStart, i);
    skipSpace();
    if (!key || s[i] !== '=') throw new Error(`malformed connection string: expected "keyword=value" at position ${keyStart}`);
    i++;
    skipSpace();
    let value = '';
    if (s[i] === "'") {
      i++;
      while (i < s.length && s[i] !== "'") {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        value += s[i++];
      }
      if (s[i] !== "'") throw new Error(`malformed connection string: unterminated quoted value of "${key}"`);
      i++;
    } else {
      while (i < s.length && !/\s/.test(s[i]!)) {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        value += s[i++];
      }
    }
    if (key === 'dbname') database = value;
    else params.set(key, value);
  }
  const query = params.toString();
  return { connectionString: `postgres:///${database === null ? '' : pathSegment(database)}${query ? `?${query}` : ''}` };
};

/**
 * A database name as the path of a URL node-postgres reads back exactly: it decodes the path with
 * `decodeURI`, which leaves the escapes of `;/?:@&=+$,#` as they are, so those stay literal (all
 * but `?` and `#` are literal in a path; a name holding one of those cannot be given this way).
 */
const pathSegment = (database: string): string => {
  if (/[?#]/.test(database)) throw new Error(`a database name holding "?" or "#" cannot be passed to node-postgres: ${JSON.stringify(database)}`);
  return encodeURIComponent(database).replace(/%(2F|3B|3A|40|26|3D|2B|24|2C)/gi, (escape) => decodeURIComponent(escape));
};
