import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';

/** The node of a pair that takes writes now (after a failover, the promoted standby). */
export const writableUrl = async (urls: string[]): Promise<string | null> => {
  for (const url of urls) {
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ r: boolean; ro: string }>("select pg_is_in_recovery() as r, current_setting('default_transaction_read_only') as ro");
      if (!rows[0]!.r && rows[0]!.ro === 'off') return url;
    } catch {
      /* down or starting: try the next one */
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return null;
};

export interface SampleWriter {
  /** Orders inserted since start. */
  readonly written: number;
  stop(): Promise<void>;
}

/**
 * Keeps the demo data changing: one order a tick into whichever member takes writes (so a failover
 * shows as a pause, not a crash), and a line in the files folder's journal every tenth tick.
 * Failures are skipped and retried next tick: the writer is scenery, it never stops the launcher.
 */
export const startSampleWriter = (options: { databaseUrls: string[]; filesDir: string; everyMs: number }): SampleWriter => {
  let client: Client | null = null;
  let written = 0;
  let ticks = 0;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const tick = async () => {
    ticks += 1;
    if (ticks % 10 === 1) appendFileSync(join(options.filesDir, 'journal.log'), `${new Date().toISOString()} orders so far: ${written}\n`);
    try {
      if (!client) {
        const url = await writableUrl(options.databaseUrls);
        if (!url) return;
        const fresh = new Client({ connectionString: url, connectionTimeoutMillis: 2_000, query_timeout: 5_000 });
        fresh.on('error', () => undefined);
        await fresh.connect();
        client = fresh;
      }
      await client.query("insert into orders (customer, amount_cents) values ('customer-' || (1 + floor(random() * 50))::int, (100 + floor(random() * 10000))::int)");
      written += 1;
    } catch {
      await client?.end().catch(() => undefined);
      client = null;
    }
  };
  const timer = setInterval(() => {
    if (!stopped) running = running.then(tick);
  }, options.everyMs);
  timer.unref();
  return {
    get written() {
      return written;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      await client?.end().catch(() => undefined);
    },
  };
};
