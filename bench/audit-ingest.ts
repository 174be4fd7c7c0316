/**
 * Audit ingest: events/s from publish to committed ledger entry (validated, leaf-hashed, Merkle
 * nodes stored, projections folded, all in the same transaction; acked after commit).
 *
 *   project:  ContinuityPublisher → JetStream → the audit service's LedgerListener/LedgerWriter
 *             (in-process Nest app on its own database), until N entries are committed
 *   baseline: bare js.publish of the same envelopes → bare durable pull consumer → multi-row
 *             `INSERT … ON CONFLICT DO NOTHING` of ≤ 500 events per transaction into a bare table,
 *             ack after commit
 *
 * Usage: `npm run bench -- audit-ingest [--events N]` (or BENCH_EVENTS). Last line: one JSON object.
 */
import 'reflect-metadata';
import { jetstream } from '@nats-io/jetstream';
import { Client } from 'pg';
import { ContinuityPublisher, eventSubject } from '@continuity/contracts';
import { aBackupCreatedData, anEvent } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { createTestDatabase } from '@continuity/runtime/testing';
import { LedgerWriter } from '@continuity/audit/ledger/ledger.writer.js';
import { startBenchAudit } from './lib/audit.js';
import { startRawDrain } from './lib/raw-drain.js';
import { inWindows, intOption, perSecond, printResult, progress, round } from './lib/report.js';

const EVENTS = intOption('events', 'BENCH_EVENTS', 20_000);
const WINDOW = 256;
const BATCH = 500;

const events = () => Array.from({ length: EVENTS }, (_, i) => anEvent('BackupCreated', { resource: `db-${i % 50}`, data: aBackupCreatedData() }));

const baseline = async () => {
  const nc = await connectTestNats();
  const topology = await createTestTopology(nc, 'bingest');
  const db = await createTestDatabase('bench');
  const sql = new Client({ connectionString: db.url });
  try {
    await sql.connect();
    const payloads = events().map((e) => ({ id: e.id, subject: eventSubject(e.type, e.resource, topology), bytes: JSON.stringify(e) }));
    const drain = await startRawDrain(nc, topology.eventStream, sql, EVENTS, BATCH);
    const js = jetstream(nc);
    const started = performance.now();
    await inWindows(payloads.length, WINDOW, (i) => js.publish(payloads[i]!.subject, payloads[i]!.bytes, { msgID: payloads[i]!.id }));
    await drain.done;
    const ms = performance.now() - started;
    await drain.close();
    return perSecond(EVENTS, ms);
  } finally {
    await sql.end().catch(() => undefined);
    await topology.remove();
    await db.drop();
    await nc.close();
  }
};

const project = async () => {
  const nc = await connectTestNats();
  const audit = await startBenchAudit(nc, 'pingest', { AUDIT_SIGN_INTERVAL_MS: '5000', ...(process.env.AUDIT_BATCH_SIZE ? { AUDIT_BATCH_SIZE: process.env.AUDIT_BATCH_SIZE } : {}) });
  try {
    const writer = audit.app.get(LedgerWriter);
    const publisher = new ContinuityPublisher(jetstream(nc), { source: 'bench', topology: audit.topology });
    const all = events();
    const started = performance.now();
    await inWindows(all.length, WINDOW, (i) => publisher.publishEnvelope(all[i]!));
    await pollUntil(() => writer.head.treeSize >= EVENTS, { timeoutMs: 600_000, intervalMs: 5, what: `${EVENTS} committed entries` });
    return perSecond(EVENTS, performance.now() - started);
  } finally {
    await audit.stop();
    await nc.close();
  }
};

const main = async () => {
  progress(`audit-ingest: ${EVENTS} events per run`);
  const base = await baseline();
  progress(`baseline (raw consume + batched INSERT): ${round(base)} events/s`);
  const proj = await project();
  progress(`project (ledger + Merkle + projections): ${round(proj)} events/s`);
  printResult({ bench: 'audit-ingest', value: round(proj), baseline: round(base), events: EVENTS, unit: 'events/s' });
  process.exit(0);
};

void main().catch((error) => {
  console.error(error);
  process.exit(1);
});
