/**
 * Audit queries on a long log: with N (default 1,000,000) events in the ledger, latency of
 * `GET /audit/resources/{r}/state?at=<random time>` (state as of a past time, with its signed head
 * and consistency proof) and of `GET /audit/events/{id}` (the entry with its inclusion proof), over
 * HTTP, at random.
 *
 * As in production, the service that answers is fed by other processes: a filling process writes
 * the log through the ledger writer itself (leaf hashes, Merkle nodes, projections, snapshots), in
 * batches, skipping NATS to save time, signs a head and exits; then the audit service is started as
 * its own process (`dist/main.js`, as `npm start` runs it) on that database and those streams, and
 * this process, which holds nothing but the request list, times the requests. The serving process
 * holds only what the service holds (its RSS is `rss_mb`), and the client's heap is not the
 * server's. The service's start-up tamper check (a rehash of the whole log) is waited for before
 * timing: it runs at start and every AUDIT_TAMPER_CHECK_INTERVAL_MS, not per request.
 *
 * Usage: `npm run bench -- audit-query [--events N] [--queries Q]`. Goals (issue 15): state p99 <
 * 20 ms, proof p99 < 5 ms. The goals are absolute; as a floor for reading them on a shared machine,
 * the same HTTP stack's `GET /health/live` (no token, no database) is timed between the proof
 * requests, and after each request a statement of its kind (parameters drawn the same way) is timed
 * straight against PostgreSQL from this process (`*_sql_*`: the round trip every request of that
 * kind makes, without the service; a request's tail cannot be shorter than its statement's).
 * `BENCH_SERVICE_NODE_ARGS` (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof --trace-gc`) are passed to
 * node for the serving process; `BENCH_SERVICE_OUTPUT=<file>` saves what it printed.
 * `--keep` leaves the filled database and streams in place and prints how to reuse them;
 * `--ledger <namespace>,<database-url>` times against such a ledger without filling (A/B runs on
 * the same data; remove it afterwards with `--ledger … --drop`). Requests are timed with `node:http`
 * on one kept-alive connection (until decision 0047 with `fetch`, whose own overhead was part of
 * the figures: they are not comparable).
 */
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { v7 as uuidv7 } from 'uuid';
import { isolatedTopology } from '@continuity/contracts';
import { aBackupCreatedData, anEvent, anIntegrityVerifiedData } from '@continuity/contracts/testing';
import type { NatsConnection } from '@nats-io/transport-node';
import { Client } from 'pg';
import { removeTopology } from '@continuity/messaging';
import { connectTestNats, createTestTopology, pollUntil, TEST_NATS_URL } from '@continuity/messaging/testing';
import { createTestDatabase, startServiceProcess, TEST_DATABASE_URL } from '@continuity/runtime/testing';
import { LedgerWriter } from '@continuity/audit/ledger/ledger.writer.js';
import { TreeHeadsService } from '@continuity/audit/signing/tree-heads.service.js';
import { ENTRY_WITH_PROOF_HASHES, STATE_INPUTS } from '@continuity/audit/history/history.service.js';
import { startBenchAudit } from './lib/audit.js';
import { intOption, median, percentile, printResult, progress, round } from './lib/report.js';

const EVENTS = intOption('events', 'BENCH_EVENTS', 1_000_000);
const QUERIES = intOption('queries', 'BENCH_QUERIES', 1_000);
const RESOURCES = 1_000;
const TOKEN = 'bench-auditor-token-0123456789abcdef';
const keyFileOf = (namespace: string) => `/tmp/continuity-bench-${namespace}.pem`;
/** Long enough that neither runs again while the requests are timed (the tamper check also runs at start). */
const QUIET = { AUDIT_SIGN_INTERVAL_MS: '3600000', AUDIT_TAMPER_CHECK_INTERVAL_MS: '86400000' };

/** What the filling process hands back. */
interface Filled {
  treeSize: number;
  signedSize: number;
  seconds: number;
  rssMb: number;
}

/** What the requests ask for, read from the ledger: every 97th event id, and the span of recording times. */
const requestsOf = async (databaseUrl: string) => {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const ids = (await client.query<{ event_id: string }>('select event_id from audit.log_entries where log_index % 97 = 0')).rows.map((r) => r.event_id);
    const {
      rows: [span],
    } = await client.query<{ first: Date; last: Date; size: string }>('select min(recorded_at) as first, max(recorded_at) as last, count(*) as size from audit.log_entries');
    return { ids, first: span!.first.getTime() - 500, last: span!.last.getTime(), treeSize: Number(span!.size) };
  } finally {
    await client.end();
  }
};

const rssMbOf = (pid: number) => {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kb ? Math.round(Number(kb) / 1024) : Number.NaN;
};

/** The filling process: writes EVENTS entries through an in-process writer, signs, prints `Filled` as JSON, exits. */
const fill = async (namespace: string, databaseUrl: string) => {
  const nc = await connectTestNats();
  const audit = await startBenchAudit(
    nc,
    'bquery',
    { ...QUIET, AUDIT_BATCH_SIZE: '5000', AUDIT_SIGNING_KEY_FILE: keyFileOf(namespace) },
    { ...isolatedTopology(namespace), remove: async () => undefined },
    { url: databaseUrl },
  );
  try {
    const writer = audit.app.get(LedgerWriter);
    const heads = audit.app.get(TreeHeadsService);
    const started = Date.now();
    const CHUNK = 20_000;
    for (let done = 0; done < EVENTS; done += CHUNK) {
      const n = Math.min(CHUNK, EVENTS - done);
      const appends: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        const resource = `db-${(done + i) % RESOURCES}`;
        const event =
          (done + i) % 3 === 2
            ? anEvent('IntegrityVerified', { id: uuidv7(), resource, data: anIntegrityVerifiedData() })
            : anEvent('BackupCreated', { id: uuidv7(), resource, data: aBackupCreatedData() });
        appends.push(writer.append(event, event, done + i + 1));
      }
      await Promise.all(appends);
      if ((done / CHUNK) % 10 === 0) {
        const rate = Math.round(((done + n) * 1000) / (Date.now() - started));
        progress(`filled ${done + n}/${EVENTS} entries (${rate}/s); signing a head`);
        await heads.signNow();
      }
    }
    const head = await heads.signNow();
    const filled: Filled = {
      treeSize: writer.head.treeSize,
      signedSize: head?.treeSize ?? 0,
      seconds: Math.round((Date.now() - started) / 1000),
      rssMb: Math.round(process.memoryUsage().rss / 1048576),
    };
    process.stdout.write(`${JSON.stringify(filled)}\n`);
  } finally {
    await audit.stop();
    await nc.close();
  }
};

const runFill = (namespace: string, databaseUrl: string) =>
  new Promise<Filled>((resolve, reject) => {
    const child = spawn(process.execPath, [process.argv[1]!, '--fill', namespace, databaseUrl, '--events', String(EVENTS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (chunk) => (out += chunk));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`the filling process exited with ${code}`));
      // The result is the line `fill` wrote; a library may print more while the process stops.
      const line = out
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{"treeSize"'));
      if (!line) return reject(new Error(`the filling process printed no result: ${out.slice(-500)}`));
      resolve(JSON.parse(line) as Filled);
    });
  });

/** The ledger to time: filled now (removed afterwards unless `--keep`), or one named by `--ledger` (kept unless `--drop`). */
const ledgerOf = async (nc: NatsConnection) => {
  const argv = process.argv.slice(2);
  const named = argv[argv.indexOf('--ledger') + 1];
  if (argv.includes('--ledger') && named) {
    const [namespace, url] = named.split(',') as [string, string];
    const name = new URL(url).pathname.slice(1);
    if (!name.includes('_test_')) throw new Error(`--ledger: ${name} is not a bench database`);
    const topology = { ...isolatedTopology(namespace), remove: () => removeTopology(nc, isolatedTopology(namespace)) };
    const drop = async () => {
      const admin = new Client({ connectionString: TEST_DATABASE_URL });
      await admin.connect();
      await admin.query(`drop database if exists "${name}" with (force)`);
      await admin.end();
    };
    return { topology, db: { url, drop }, filled: null, keep: !argv.includes('--drop') };
  }
  const topology = await createTestTopology(nc, 'bquery');
  const db = await createTestDatabase('bench');
  const filled = await runFill(topology.namespace, db.url).catch(async (error: unknown) => {
    await topology.remove();
    await db.drop();
    throw error;
  });
  progress(`ledger: ${filled.treeSize} entries in ${filled.seconds} s (filling process rss ${filled.rssMb} MB); head ${filled.signedSize}`);
  if (argv.includes('--keep')) progress(`kept: time it again with --ledger ${topology.namespace},${db.url}`);
  return { topology, db, filled, keep: argv.includes('--keep') };
};

const main = async () => {
  const nc = await connectTestNats();
  const { topology, db, filled, keep } = await ledgerOf(nc);
  let service: Awaited<ReturnType<typeof startServiceProcess>> | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const direct = new Client({ connectionString: db.url });
  try {

    const nodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const started = performance.now();
    service = await startServiceProcess(
      'audit',
      {
        ...QUIET,
        NATS_URL: TEST_NATS_URL,
        DATABASE_URL: db.url,
        CONTINUITY_NAMESPACE: topology.namespace,
        AUDIT_SIGNING_KEY_FILE: keyFileOf(topology.namespace),
        CONTINUITY_TOKENS: `bench:auditor:${TOKEN}`,
        LOG_LEVEL: 'warn',
      },
      nodeArgs,
    );
    const base = `http://127.0.0.1:${service.port}`;
    const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
    const died = service.exited.then((code) => Promise.reject(new Error(`the audit service exited (${code}): ${service?.output()}`)));
    const up = pollUntil(async () => !('message' in ((await (await fetch(`${base}/audit/integrity`, auth)).json()) as object)), {
      timeoutMs: 1_800_000,
      intervalMs: 250,
      what: "the service's start-up tamper check",
    });
    await Promise.race([up, died]);
    progress(`serving process up and its start-up tamper check done in ${round((performance.now() - started) / 1000, 1)} s`);

    // The timing client: node:http on one kept-alive connection, reading the whole body. (fetch()
    // measured its own WHATWG-stream overhead too: ~3 ms more per 70 kB state at the median, on
    // this machine, than curl's timings of the same requests.)
    const get = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const t0 = performance.now();
        const req = request(base + path, { agent, headers: path.startsWith('/audit/') ? auth.headers : {} }, (res) => {
          res.on('data', () => undefined);
          res.once('error', reject);
          res.once('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`${path}: ${res.statusCode}`))));
        });
        req.once('error', reject);
        req.end();
      });
    const { ids, first, last, treeSize } = await requestsOf(db.url);
    const anId = () => ids[Math.floor(Math.random() * ids.length)];
    // The same statements straight to PostgreSQL (one connection, named, as the service's pool runs them).
    await direct.connect();
    const signed = Number((await direct.query<{ size: string }>('select max(tree_size) as size from audit.tree_heads')).rows[0]?.size ?? 0);
    const timed = async (query: { name: string; text: string; values: unknown[] }) => {
      const t0 = performance.now();
      await direct.query(query);
      return performance.now() - t0;
    };
    const stateSql = (resource: string, at: string) => timed({ ...STATE_INPUTS, values: [resource, at, signed] });
    const proofSql = (id: string) => timed({ ...ENTRY_WITH_PROOF_HASHES, values: [id, signed] });
    for (let i = 0; i < 50; i++) {
      // warm-up: JIT, connections, named statements (a long-running service has all three)
      await get(`/audit/resources/db-${i}/state?at=${new Date(last).toISOString()}`);
      await get(`/audit/events/${anId()}`);
      await stateSql(`db-${i}`, new Date(last).toISOString());
      await proofSql(anId()!);
    }
    const stateMs: number[] = [];
    const stateSqlMs: number[] = [];
    for (let i = 0; i < QUERIES; i++) {
      const at = new Date(first + Math.random() * (last - first)).toISOString();
      stateMs.push(await get(`/audit/resources/db-${Math.floor(Math.random() * RESOURCES)}/state?at=${at}`));
      stateSqlMs.push(await stateSql(`db-${Math.floor(Math.random() * RESOURCES)}`, new Date(first + Math.random() * (last - first)).toISOString()));
    }
    const proofMs: number[] = [];
    const proofSqlMs: number[] = [];
    const floorMs: number[] = [];
    for (let i = 0; i < QUERIES; i++) {
      proofMs.push(await get(`/audit/events/${anId()}`));
      floorMs.push(await get('/health/live'));
      proofSqlMs.push(await proofSql(anId()!));
    }
    const rssMb = rssMbOf(service.child.pid!);
    progress(`state?at: median ${round(median(stateMs), 2)} ms, p99 ${round(percentile(stateMs, 99), 2)} ms`);
    progress(`event + inclusion proof: median ${round(median(proofMs), 2)} ms, p99 ${round(percentile(proofMs, 99), 2)} ms`);
    progress(`floor (GET /health/live, same loop): median ${round(median(floorMs), 2)} ms, p99 ${round(percentile(floorMs, 99), 2)} ms`);
    progress(`statements alone, straight to PostgreSQL: state inputs median ${round(median(stateSqlMs), 2)} ms, p99 ${round(percentile(stateSqlMs, 99), 2)} ms; entry + proof hashes median ${round(median(proofSqlMs), 2)} ms, p99 ${round(percentile(proofSqlMs, 99), 2)} ms`);
    progress(`serving process rss ${rssMb} MB`);
    printResult({
      bench: 'audit-query',
      value: round(percentile(stateMs, 99), 2),
      baseline: 20,
      unit: 'ms (state p99; baseline = goal)',
      state_median_ms: round(median(stateMs), 2),
      proof_p99_ms: round(percentile(proofMs, 99), 2),
      proof_median_ms: round(median(proofMs), 2),
      floor_p99_ms: round(percentile(floorMs, 99), 2),
      floor_median_ms: round(median(floorMs), 2),
      state_sql_p99_ms: round(percentile(stateSqlMs, 99), 2),
      state_sql_median_ms: round(median(stateSqlMs), 2),
      proof_sql_p99_ms: round(percentile(proofSqlMs, 99), 2),
      proof_sql_median_ms: round(median(proofSqlMs), 2),
      events: treeSize,
      rss_mb: rssMb,
      ...(filled ? { fill_rss_mb: filled.rssMb } : {}),
      client_rss_mb: Math.round(process.memoryUsage().rss / 1048576),
    });
  } finally {
    agent.destroy();
    await direct.end().catch(() => undefined);
    await service?.stop('SIGTERM');
    if (service && process.env.BENCH_SERVICE_OUTPUT) writeFileSync(process.env.BENCH_SERVICE_OUTPUT, service.output());
    if (!keep) {
      await topology.remove();
      await db.drop();
    }
    await nc.close();
  }
};

const role = process.argv.indexOf('--fill');
void (role >= 0 ? fill(process.argv[role + 1]!, process.argv[role + 2]!) : main()).then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
