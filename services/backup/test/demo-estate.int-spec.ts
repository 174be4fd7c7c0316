import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { DemoEstate, openDemoEstate } from '@continuity/runtime';
import { pollUntil } from '@continuity/messaging/testing';
import { parseBackupConfig } from '../src/config/backup-config.loader.js';

const count = async (url: string) => {
  const client = new Client({ connectionString: url.replace(/\/postgres$/, '/shop') });
  await client.connect();
  try {
    return Number((await client.query('select count(*) as n from orders')).rows[0].n);
  } finally {
    await client.end();
  }
};

/** The estate `npm start` opens without configuration: real clusters, generated files, reopened on restart. */
describe('demo estate (real initdb, pg_basebackup, PostgreSQL 15)', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'continuity-demo-test-')), 'demo');
  let estate: DemoEstate | undefined;
  let pgRoot = '';

  afterAll(async () => {
    await estate?.stop();
    if (pgRoot) rmSync(pgRoot, { recursive: true, force: true });
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  it('makes a primary with a streaming hot standby, sample data that keeps changing, and files', async () => {
    estate = await openDemoEstate({ dir, writeEveryMs: 200 });
    pgRoot = realpathSync(estate.cluster.root);
    expect(estate.created).toBe(true);
    const [primary, standby] = estate.cluster.nodes;
    expect(await primary!.isInRecovery()).toBe(false);
    expect(await standby!.isInRecovery()).toBe(true);
    expect(await standby!.walReceiverPid()).not.toBeNull();
    const before = await count(primary!.url);
    expect(before).toBeGreaterThanOrEqual(20);
    await pollUntil(async () => (await count(primary!.url)) >= before + 3, { what: 'the writer adding orders' });
    await pollUntil(async () => (await count(standby!.url)) >= before + 3, { what: 'the standby replaying them' });
    expect(readFileSync(join(dir, 'files', 'catalogue', 'products.csv'), 'utf8')).toContain('teapot');
  }, 120_000);

  it('writes a configuration the backup service accepts: two resources, 3-2-1 policies, WAL archive', async () => {
    const file = estate!.env.CONTINUITY_CONFIG!;
    const config = await parseBackupConfig(file, readFileSync(file, 'utf8'));
    expect([...config.resources.keys()].sort()).toEqual(['shop-db', 'shop-files']);
    const db = [...config.policies.values()].find((p) => p.resourceName === 'shop-db')!;
    expect(db.threeTwoOneFailures).toEqual([]);
    expect(db.copies).toHaveLength(3);
    expect(db.wal).toMatchObject({ walShipIntervalMs: 10_000, synchronous: false });
    expect(estate!.env.VERIFIER_CONFIG).toBe(join(dir, 'verifier.yaml'));
    // The connection in the file answers: it is the primary's.
    const connection = (config.resources.get('shop-db') as { connection: string }).connection;
    const client = new Client({ connectionString: connection });
    await client.connect();
    expect((await client.query('select pg_is_in_recovery() as r')).rows[0].r).toBe(false);
    await client.end();
  });

  it('is reopened by the next start: same ports, same data, no new initdb', async () => {
    const ports = estate!.cluster.nodes.map((n) => n.port);
    const rows = await count(estate!.cluster.primary.url);
    await estate!.stop();
    expect(estate!.cluster.nodes.map((n) => n.pid())).toEqual([null, null]); // stopped, as Ctrl-C leaves them
    estate = await openDemoEstate({ dir, writeEveryMs: 200 });
    expect(estate.created).toBe(false);
    expect(estate.cluster.nodes.map((n) => n.port)).toEqual(ports);
    expect(await count(estate.cluster.primary.url)).toBeGreaterThanOrEqual(rows);
    expect(await estate.cluster.standbys[0]!.isInRecovery()).toBe(true);
  }, 120_000);
});
