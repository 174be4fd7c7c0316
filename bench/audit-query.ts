/**
 * Audit queries on a long log: with N (default 1,000,000) events in the ledger, latency of
 * `GET /audit/resources/{r}/state?at=<random time>` (state as of a past time, with its signed head
 * and consistency proof) and of `GET /audit/events/{id}` (the entry with its inclusion proof), over
 * HTTP, at random. The log is filled through the ledger writer itself (leaf hashes, Merkle nodes,
 * projections, snapshots), in batches, skipping NATS to save time.
 *
 * Usage: `npm run bench -- audit-query [--events N] [--queries Q]`. Goals: state p99 < 50 ms,
 * proof p99 < 5 ms. The goals are absolute; as a floor for reading them on a shared machine, the
 * same HTTP stack's `GET /health/live` (no token, no database) is timed between the proof requests.
 */
import 'reflect-metadata';
import { v7 as uuidv7 } from 'uuid';
import { aBackupCreatedData, anEvent, anIntegrityVerifiedData } from '@continuity/contracts/testing';
import { connectTestNats } from '@continuity/messaging/testing';
import { LedgerWriter } from '@continuity/audit/ledger/ledger.writer.js';
import { TreeHeadsService } from '@continuity/audit/signing/tree-heads.service.js';
import { startBenchAudit } from './lib/audit.js';
import { intOption, median, percentile, printResult, progress, round } from './lib/report.js';

const EVENTS = intOption('events', 'BENCH_EVENTS', 1_000_000);
const QUERIES = intOption('queries', 'BENCH_QUERIES', 1_000);
const RESOURCES = 1_000;
const TOKEN = 'bench-auditor-token-0123456789abcdef';

const main = async () => {
  const nc = await connectTestNats();
  const audit = await startBenchAudit(nc, 'bquery', {
    AUDIT_SIGN_INTERVAL_MS: '3600000',
    AUDIT_TAMPER_CHECK_INTERVAL_MS: '86400000',
    AUDIT_BATCH_SIZE: '5000',
    CONTINUITY_TOKENS: `bench:auditor:${TOKEN}`,
  });
  const { app } = audit;
  try {
    const writer = app.get(LedgerWriter);
    const heads = app.get(TreeHeadsService);
    const ids: string[] = [];
    const times: number[] = [];
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
        if (i % 97 === 0) ids.push(event.id);
        appends.push(writer.append(event, event, done + i + 1));
      }
      await Promise.all(appends);
      times.push(Date.now());
      if ((done / CHUNK) % 10 === 0) {
        const rate = Math.round(((done + n) * 1000) / (Date.now() - started));
        progress(`filled ${done + n}/${EVENTS} entries (${rate}/s); signing a head`);
        await heads.signNow();
      }
    }
    const head = await heads.signNow();
    progress(`ledger: ${writer.head.treeSize} entries in ${Math.round((Date.now() - started) / 1000)} s; head ${head?.treeSize}`);
    global.gc?.();
    const rssMb = Math.round(process.memoryUsage().rss / 1048576);

    const { base } = audit;
    const get = async (path: string) => {
      const t0 = performance.now();
      const res = await fetch(base + path, path.startsWith('/audit/') ? { headers: { authorization: `Bearer ${TOKEN}` } } : {});
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
      return performance.now() - t0;
    };
    const first = times[0]! - 500;
    const last = times[times.length - 1]!;
    for (let i = 0; i < 50; i++) await get(`/audit/resources/db-${i}/state?at=${new Date(last).toISOString()}`); // warm-up
    const stateMs: number[] = [];
    for (let i = 0; i < QUERIES; i++) {
      const at = new Date(first + Math.random() * (last - first)).toISOString();
      stateMs.push(await get(`/audit/resources/db-${Math.floor(Math.random() * RESOURCES)}/state?at=${at}`));
    }
    const proofMs: number[] = [];
    const floorMs: number[] = [];
    for (let i = 0; i < QUERIES; i++) {
      proofMs.push(await get(`/audit/events/${ids[Math.floor(Math.random() * ids.length)]}`));
      floorMs.push(await get('/health/live'));
    }
    progress(`state?at: median ${round(median(stateMs), 2)} ms, p99 ${round(percentile(stateMs, 99), 2)} ms`);
    progress(`event + inclusion proof: median ${round(median(proofMs), 2)} ms, p99 ${round(percentile(proofMs, 99), 2)} ms`);
    progress(`floor (GET /health/live, same loop): median ${round(median(floorMs), 2)} ms, p99 ${round(percentile(floorMs, 99), 2)} ms`);
    printResult({
      bench: 'audit-query',
      value: round(percentile(stateMs, 99), 2),
      baseline: 50,
      unit: 'ms (state p99; baseline = goal)',
      state_median_ms: round(median(stateMs), 2),
      proof_p99_ms: round(percentile(proofMs, 99), 2),
      proof_median_ms: round(median(proofMs), 2),
      floor_p99_ms: round(percentile(floorMs, 99), 2),
      floor_median_ms: round(median(floorMs), 2),
      events: writer.head.treeSize,
      rss_mb: rssMb,
    });
  } finally {
    await audit.stop();
    await nc.close();
  }
  process.exit(0);
};

void main().catch((error) => {
  console.error(error);
  process.exit(1);
});
