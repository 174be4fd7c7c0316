import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { PG_BIN, PgCluster, pgServerBinariesPresent, pgUserCanUse } from '../pg-cluster.js';
import { DEMO_DATABASE, DEMO_RESOURCES, DemoLayout, demoContinuityYaml, demoPaths, demoVerifierYaml } from './demo-config.js';
import { SampleWriter, startSampleWriter, writableUrl } from './sample-writer.js';

/** The demo cannot run here (no PostgreSQL server programs): the message says what to do. */
export class DemoUnavailableError extends Error {
  override readonly name = 'DemoUnavailableError';
}

export interface DemoEstate {
  layout: DemoLayout;
  cluster: PgCluster;
  /** Whether this start made the cluster (false: an earlier start's was reopened). */
  created: boolean;
  /** For the services: CONTINUITY_CONFIG, VERIFIER_CONFIG, BACKUP_WAL_SPOOL. */
  env: Record<string, string>;
  resources: string[];
  writer: SampleWriter;
  /** Stops the writer and both PostgreSQL servers; the estate stays on disk for the next start. */
  stop(): Promise<void>;
}

export interface DemoOptions {
  /** Absolute folder of the estate. */
  dir: string;
  /** Policy schedule (default every 5m). */
  schedule?: string;
  /** Sample writes every this many ms (default 1000). */
  writeEveryMs?: number;
  say?: (text: string) => void;
  /**
   * Told the folder of the PostgreSQL data directories and their names in it before any server in
   * it starts: `npm start` hands them to its watchdog, which stops them should the launcher die
   * without stopping them.
   */
  beforeServersStart?: (postgresRoot: string, dataDirs: string[]) => void;
}

const MEMBERS = ['demo-pg-a', 'demo-pg-b'];
const SAMPLE_FILES: Record<string, string> = {
  'README.txt': 'Sample files of the Continuity demo estate: backed up as the resource shop-files.\n',
  'catalogue/products.csv': 'sku,name,price_cents\nA-1,teapot,2500\nA-2,cup,600\nA-3,saucer,450\n',
  'catalogue/suppliers.json': '{"suppliers":[{"id":1,"name":"Pottery Ltd"},{"id":2,"name":"Kiln & Co"}]}\n',
};

/**
 * Where the PostgreSQL folders go: inside the estate when PostgreSQL's OS user can reach it, else
 * (a checkout under a private folder, run as root) a folder of its own in the temp dir, named after
 * the estate so the next start finds it again; a link in the estate points at it.
 */
const postgresRoot = (dir: string) => {
  const inside = demoPaths(dir).postgres;
  if (pgUserCanUse(dir)) return inside;
  const outside = join(tmpdir(), `continuity-demo-${createHash('sha256').update(dir).digest('hex').slice(0, 12)}`);
  if (!existsSync(inside)) symlinkSync(outside, inside);
  return outside;
};

/** The demo schema and first rows; idempotent, run on the member that takes writes. */
const seed = async (primaryUrl: string) => {
  const admin = new Client({ connectionString: primaryUrl });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [DEMO_DATABASE]);
    if (!rowCount) await admin.query(`create database ${DEMO_DATABASE}`);
  } finally {
    await admin.end();
  }
  const shop = new Client({ connectionString: primaryUrl.replace(/\/postgres$/, `/${DEMO_DATABASE}`) });
  await shop.connect();
  try {
    await shop.query(`create table if not exists orders (
      id bigserial primary key,
      customer text not null,
      amount_cents integer not null check (amount_cents > 0),
      placed_at timestamptz not null default now())`);
    await shop.query("insert into orders (customer, amount_cents) select 'customer-' || g, 100 * g from generate_series(1, 20) g where not exists (select 1 from orders)");
  } finally {
    await shop.end();
  }
};

/**
 * Opens the demo estate in `dir`: makes it on first use (a primary and a streaming standby with
 * initdb + pg_basebackup on free ports, the shop database, sample files), reopens it afterwards
 * (same folders and ports, no new initdb), writes the configuration files and starts the writer.
 */
export const openDemoEstate = async (options: DemoOptions): Promise<DemoEstate> => {
  const say = options.say ?? (() => undefined);
  const dir = resolve(options.dir);
  if (!pgServerBinariesPresent()) {
    throw new DemoUnavailableError(
      `the demo estate needs PostgreSQL's server programs (initdb, pg_ctl, pg_basebackup) in ${PG_BIN}: install them (Debian: apt-get install postgresql-15) or set PG_BIN to their folder`,
    );
  }
  const paths = demoPaths(dir);
  for (const folder of [dir, paths.files, paths.siteA, paths.siteB, paths.walSpool, join(dir, 'restore')]) mkdirSync(folder, { recursive: true });
  const pgRoot = postgresRoot(dir);
  if (options.beforeServersStart) {
    mkdirSync(pgRoot, { recursive: true });
    options.beforeServersStart(realpathSync(pgRoot), [...MEMBERS]);
  }
  let cluster: PgCluster;
  const created = !PgCluster.existsIn(pgRoot);
  if (created) {
    // What a crashed first start left behind is not a cluster to trust: begin again.
    for (const name of MEMBERS) rmSync(join(pgRoot, name), { recursive: true, force: true });
    say(`creating the demo PostgreSQL pair (initdb + pg_basebackup) in ${pgRoot}`);
    cluster = await PgCluster.create({ root: pgRoot, names: MEMBERS, standbys: 1 });
  } else {
    say(`reopening the demo PostgreSQL pair in ${pgRoot}`);
    cluster = await PgCluster.reopen(pgRoot);
  }
  const [primary, standby] = cluster.nodes as [typeof cluster.primary, typeof cluster.primary];
  try {
    const urls = cluster.nodes.map((n) => n.url);
    const writable = await writableUrl(urls);
    if (!writable) throw new Error(`neither ${MEMBERS.join(' nor ')} takes writes (see the logs in ${pgRoot})`);
    await seed(writable);
    for (const [file, text] of Object.entries(SAMPLE_FILES)) {
      const path = join(paths.files, file);
      mkdirSync(join(path, '..'), { recursive: true });
      if (!existsSync(path)) writeFileSync(path, text);
    }
    const hash = createHash('sha256').update(dir).digest('hex').slice(0, 8);
    const layout: DemoLayout = {
      dir,
      primary: { name: primary.name, port: primary.port },
      standby: { name: standby.name, port: standby.port },
      bucket: `continuity-demo-${hash}`,
      schedule: options.schedule ?? 'every 5m',
    };
    writeFileSync(paths.continuityConfig, demoContinuityYaml(layout));
    writeFileSync(paths.verifierConfig, demoVerifierYaml(layout));
    const writer = startSampleWriter({ databaseUrls: urls.map((u) => u.replace(/\/postgres$/, `/${DEMO_DATABASE}`)), filesDir: paths.files, everyMs: options.writeEveryMs ?? 1_000 });
    return {
      layout,
      cluster,
      created,
      env: { CONTINUITY_CONFIG: paths.continuityConfig, VERIFIER_CONFIG: paths.verifierConfig, BACKUP_WAL_SPOOL: paths.walSpool },
      resources: [DEMO_RESOURCES.database, DEMO_RESOURCES.files],
      writer,
      async stop() {
        await writer.stop();
        await cluster.stop();
      },
    };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
};
