/**
 * Audit drain: what the audit service itself sustains on a backlog. The stream is filled with N
 * events first, by a separate process and untimed; then the drain to committed ledger entries is
 * timed (validated, leaf-hashed, Merkle nodes stored, projections folded, in one transaction per
 * batch; acked after commit).
 *
 *   project:  the audit service (in-process Nest app on its own database) drains the filled stream
 *   baseline: a raw drain of an identically filled stream: bare durable pull consumer → multi-row
 *             `INSERT … ON CONFLICT DO NOTHING` of each envelope into a bare table, ≤ 500 per
 *             transaction, ack after commit
 *
 * Usage: `npm run bench -- audit-drain [--events N]` (or BENCH_EVENTS). Last line: one JSON object.
 * `AUDIT_BATCH_SIZE` is passed through to the audit service.
 */
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { jetstream } from '@nats-io/jetstream';
import { Client } from 'pg';
import { eventSubject, isolatedTopology, type Topology } from '@continuity/contracts';
import { aBackupCreatedData, anEvent, testRunId } from '@continuity/contracts/testing';
import { connectTestNats, pollUntil } from '@continuity/messaging/testing';
import { ensureTopology, removeTopology } from '@continuity/messaging';
import { createTestDatabase } from '@continuity/runtime/testing';
import { LedgerWriter } from '@continuity/audit/ledger/ledger.writer.js';
import { startBenchAudit } from './lib/audit.js';
import { startRawDrain } from './lib/raw-drain.js';
import { inWindows, intOption, perSecond, printResult, progress, ratioOf, round } from './lib/report.js';

const EVENTS = intOption('events', 'BENCH_EVENTS', 50_000);
const WINDOW = 512;
const BATCH = 500;

/** The filling process: publishes `count` events to the topology's stream, then exits. */
const fill = async (namespace: string, count: number) => {
  const topology = isolatedTopology(namespace);
  const nc = await connectTestNats();
  const js = jetstream(nc);
  await inWindows(count, WINDOW, (i) => {
    const event = anEvent('BackupCreated', { resource: `db-${i % 50}`, data: aBackupCreatedData() });
    return js.publish(eventSubject(event.type, event.resource, topology), JSON.stringify(event), { msgID: event.id });
  });
  await nc.drain();
};

/** Fills a fresh stream from a child process (so the drain's process has no publisher in it). */
const filledTopology = async (prefix: string): Promise<Topology & { remove(): Promise<void> }> => {
  const nc = await connectTestNats();
  const topology = isolatedTopology(testRunId(prefix));
  await ensureTopology(nc, topology, { duplicateWindowMs: 120_000 });
  await nc.close();
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [process.argv[1]!, '--fill', topology.namespace, String(EVENTS)], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the filling process exited with ${code}`))));
  });
  progress(`  filled ${topology.eventStream} with ${EVENTS} events in ${round((performance.now() - started) / 1000, 1)} s (untimed)`);
  return {
    ...topology,
    remove: async () => {
      const cleanup = await connectTestNats();
      await removeTopology(cleanup, topology);
      await cleanup.close();
    },
  };
};

const baseline = async () => {
  const topology = await filledTopology('bdrain');
  const nc = await connectTestNats();
  const db = await createTestDatabase('bench');
  const sql = new Client({ connectionString: db.url });
  try {
    await sql.connect();
    const started = performance.now();
    const drain = await startRawDrain(nc, topology.eventStream, sql, EVENTS, BATCH);
    await drain.done;
    const ms = performance.now() - started;
    await drain.close();
    return perSecond(EVENTS, ms);
  } finally {
    await sql.end().catch(() => undefined);
    await db.drop();
    await nc.close();
    await topology.remove();
  }
};

const project = async () => {
  const filled = await filledTopology('pdrain');
  const nc = await connectTestNats();
  // The service creates its consumers on the filled stream (deliver all) and starts draining as it
  // boots: the rate counts the entries committed after it is up, over the time since.
  const audit = await startBenchAudit(nc, 'pdrain', {
    AUDIT_SIGN_INTERVAL_MS: '5000',
    ...(process.env.AUDIT_BATCH_SIZE ? { AUDIT_BATCH_SIZE: process.env.AUDIT_BATCH_SIZE } : {}),
  }, filled);
  try {
    const writer = audit.app.get(LedgerWriter);
    const started = performance.now();
    const atStart = writer.head.treeSize;
    await pollUntil(() => writer.head.treeSize >= EVENTS, { timeoutMs: 900_000, intervalMs: 5, what: `${EVENTS} committed entries` });
    progress(`  ${atStart} entries were committed while the service was starting`);
    return perSecond(EVENTS - atStart, performance.now() - started);
  } finally {
    await audit.stop();
    await nc.close();
  }
};

const main = async () => {
  const at = process.argv.indexOf('--fill');
  if (at >= 0) {
    await fill(process.argv[at + 1]!, Number(process.argv[at + 2]));
    process.exit(0);
  }
  progress(`audit-drain: ${EVENTS} events in the stream before each drain`);
  const base = await baseline();
  progress(`baseline (raw pull + batched INSERT): ${round(base)} events/s`);
  const proj = await project();
  progress(`project (audit service: ledger + Merkle + projections): ${round(proj)} events/s`);
  printResult({ bench: 'audit-drain', value: round(proj), baseline: round(base), ratio: ratioOf(proj, base), events: EVENTS, unit: 'events/s' });
  process.exit(0);
};

void main().catch((error) => {
  console.error(error);
  process.exit(1);
});
