import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, type QueryArrayConfig } from 'pg';
import type { FileIndexEntry, TableRowCount } from '@continuity/artifacts';

export interface DrillCheck {
  name: string;
  ok: boolean;
  detail: string;
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const list = (items: string[]) => (items.length > 5 ? `${items.slice(0, 5).join(', ')} and ${items.length - 5} more` : items.join(', '));

/**
 * Checks a scratch database: the tables and row counts the backup recorded (in pg_dump's own
 * snapshot), then each configured assertion, read-only and time-limited, passing only on one row,
 * one column, `true`.
 */
export const checkScratchDatabase = async (
  url: string,
  recorded: readonly TableRowCount[] | null,
  assertions: readonly { name: string; sql: string }[],
  timeoutMs: number,
): Promise<DrillCheck[]> => {
  const checks: DrillCheck[] = [];
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(`SET statement_timeout = ${Math.max(1_000, Math.floor(timeoutMs))}`);
    await client.query('SET default_transaction_read_only = on');
    if (recorded) {
      const wrong: string[] = [];
      let counted = 0;
      for (const table of recorded.filter((t) => t.rows !== null)) {
        const name = `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
        const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${name}`).catch((error: Error) => ({ rows: [{ n: `missing (${error.message})` }] }));
        const n = Number(rows[0]!.n);
        counted++;
        if (n !== table.rows) wrong.push(`${table.schema}.${table.name}: ${rows[0]!.n} rows, recorded ${table.rows}`);
      }
      checks.push({ name: 'row counts as recorded', ok: wrong.length === 0, detail: wrong.length ? list(wrong) : `${counted} tables` });
    } else {
      checks.push({ name: 'row counts as recorded', ok: true, detail: 'the backup recorded no row counts: not checked' });
    }
    for (const assertion of assertions) {
      try {
        // One statement (the extended protocol refuses several) in a read-only transaction, rolled
        // back: an assertion cannot turn read-only off first, nor change the scratch copy.
        await client.query('BEGIN READ ONLY');
        // `queryMode` is pg's (8.9+), not in its type definitions.
        const extended = { text: assertion.sql, rowMode: 'array', queryMode: 'extended' } as unknown as QueryArrayConfig;
        const result = await client.query(extended).finally(() => client.query('ROLLBACK').catch(() => undefined));
        const ok = result.rows.length === 1 && result.rows[0].length === 1 && result.rows[0][0] === true;
        checks.push({ name: assertion.name, ok, detail: ok ? 'true' : `expected one row with true, got ${JSON.stringify(result.rows.slice(0, 2)).slice(0, 200)}` });
      } catch (error) {
        checks.push({ name: assertion.name, ok: false, detail: (error as Error).message.slice(0, 500) });
      }
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  return checks;
};

/** Checks a scratch directory against the backup's file index: every file there, with its size. */
export const checkScratchDirectory = async (dir: string, files: readonly FileIndexEntry[] | null): Promise<DrillCheck[]> => {
  if (!files) return [{ name: 'file index', ok: true, detail: 'the backup recorded no file index: not checked' }];
  const wrong: string[] = [];
  let regular = 0;
  for (const entry of files) {
    const stat = await lstat(join(dir, entry.path)).catch(() => null);
    if (!stat) wrong.push(`${entry.path}: missing`);
    else if (entry.type === 'file') {
      regular++;
      if (stat.size !== entry.size) wrong.push(`${entry.path}: ${stat.size} bytes, recorded ${entry.size}`);
    }
  }
  return [{ name: 'file index', ok: wrong.length === 0, detail: wrong.length ? list(wrong) : `${files.length} entries (${regular} files) present with their sizes` }];
};
