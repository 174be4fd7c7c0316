/**
 * The chaos benchmark: the continuity service keeping its promises while its own dependencies
 * fail. A client publishes N events (default 20,000) at a steady rate into a real 3-node NATS
 * cluster (R3 streams) while two audit processes (one writer, one standby) record them in a
 * PostgreSQL of the benchmark's own. Meanwhile five faults, one after another:
 *
 *   1. PostgreSQL stopped for `--outage-s` (default 30) seconds, then started;
 *   2. `kill -9` of the audit writer, restarted;
 *   3. `kill -9` of the NATS node leading the event stream, restarted;
 *   4. PostgreSQL frozen (SIGSTOP) for 10 s, a network-like stall, then continued;
 *   5. the other audit process restarted gracefully (SIGTERM) mid-flow.
 *
 * The client retries a publish that failed with the same event id (JetStream drops a duplicate).
 * At the end every published event must be in the ledger once: `value` is the number lost
 * (baseline 0), beside it how many were dead-lettered (none may be: every fault is transient),
 * duplicates, and the longest time from a dependency's return (or a restart) until both audit
 * processes answered ready again.
 *
 * Usage: `npm run bench -- chaos [--events 20000] [--rate 400] [--outage-s 30]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { ContinuityPublisher, isolatedTopology, type Envelope } from '@continuity/contracts';
import { aBackupCreatedData, testRunId } from '@continuity/contracts/testing';
import { pollUntil, startNatsCluster, type NatsCluster } from '@continuity/messaging/testing';
import { createPgCluster, startServiceProcess, type PgCluster, type ServiceProcess } from '@continuity/runtime/testing';
import { intOption, printResult, progress, round } from './lib/report.js';

const EVENTS = intOption('events', 'BENCH_EVENTS', 20_000);
const RATE = intOption('rate', 'BENCH_RATE', 400);
const OUTAGE_S = intOption('outage-s', 'BENCH_OUTAGE_S', 30);
const AUDITOR = 'chaos-auditor-token-0123456789abcdef';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Fault {
  name: string;
  /** Seconds from the dependency's return (or the restart) until both audit processes were ready. */
  recovery_s: number;
}

const main = async () => {
  const work = mkdtempSync(join(tmpdir(), 'continuity-chaos-'));
  let nats: NatsCluster | null = null;
  let pg: PgCluster | null = null;
  let nc: NatsConnection | null = null;
  const audits: (ServiceProcess | null)[] = [null, null];
  try {
    progress('starting a 3-node NATS cluster and a PostgreSQL of its own…');
    [nats, pg] = await Promise.all([startNatsCluster({ size: 3 }), createPgCluster({ standbys: 0 })]);
    const topology = isolatedTopology(testRunId('chaos'));
    const env = (i: number) => ({
      NATS_URL: nats!.urls,
      NATS_REPLICAS: '3',
      DATABASE_URL: pg!.primary.url,
      CONTINUITY_NAMESPACE: topology.namespace,
      CONTINUITY_TOKENS: `chaos:auditor:${AUDITOR}`,
      AUDIT_SIGNING_KEY_FILE: join(work, `audit-${i}.pem`),
      AUDIT_SIGN_INTERVAL_MS: '3600000',
      AUDIT_INSTANCE_ID: `chaos-audit-${i}`,
      JETSTREAM_ACK_WAIT_MS: '5000',
    });
    const startAudit = async (i: number) => {
      audits[i] = await startServiceProcess('audit', env(i));
      await audits[i]!.waitForOutput('audit listening', 60_000);
    };
    await startAudit(0);
    await startAudit(1);

    const ready = async (proc: ServiceProcess | null) => {
      if (!proc) return false;
      const res = await fetch(`http://127.0.0.1:${proc.port}/health/ready`, { signal: AbortSignal.timeout(3_000) }).catch(() => null);
      return res?.status === 200;
    };
    const allReady = async () => (await Promise.all(audits.map(ready))).every(Boolean);
    const recovered = async (since: number) => {
      await pollUntil(allReady, { timeoutMs: 180_000, intervalMs: 100, what: 'both audit processes ready again' });
      return round((Date.now() - since) / 1000, 1);
    };
    const writerIndex = async () => {
      const res = await fetch(`http://127.0.0.1:${audits[0]!.port}/audit/integrity`, { headers: { authorization: `Bearer ${AUDITOR}` } });
      const body = (await res.json()) as { ledgerWriter?: { writer?: string | null } };
      return body.ledgerWriter?.writer === 'chaos-audit-1' ? 1 : 0;
    };

    // The client: a steady rate, each event retried with its own id until JetStream stored it.
    nc = await connect({ servers: nats.urls.split(','), maxReconnectAttempts: -1, noAsyncTraces: true });
    const publisher = new ContinuityPublisher(jetstream(nc, { timeout: 2_000 }), { source: 'backup', topology });
    const published = new Set<string>();
    let publishRetries = 0;
    const publishOne = async (envelope: Envelope) => {
      for (;;) {
        try {
          await publisher.publishEnvelope(envelope);
          published.add(envelope.id);
          return;
        } catch {
          publishRetries++;
          await sleep(200);
        }
      }
    };
    const started = Date.now();
    const load = (async () => {
      const inFlight = new Set<Promise<void>>();
      for (let i = 0; i < EVENTS; i++) {
        const due = started + (i * 1000) / RATE;
        if (due > Date.now()) await sleep(due - Date.now());
        const envelope = publisher.build('BackupCreated', { resource: `db-${i % 23}`, data: aBackupCreatedData() });
        const p = publishOne(envelope).finally(() => inFlight.delete(p));
        inFlight.add(p);
        if (inFlight.size > 256) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    })();
    const at = (share: number) => pollUntil(() => published.size >= EVENTS * share, { timeoutMs: 600_000, intervalMs: 100, what: `${share * 100}% published` });

    const faults: Fault[] = [];
    await at(0.1);
    progress(`fault 1: PostgreSQL stopped for ${OUTAGE_S} s`);
    await pg.primary.stop('immediate');
    await sleep(OUTAGE_S * 1000);
    await pg.primary.start();
    faults.push({ name: `postgres stopped ${OUTAGE_S} s`, recovery_s: await recovered(Date.now()) });

    await at(0.3);
    const writer = await writerIndex();
    progress(`fault 2: kill -9 of the audit writer (instance ${writer})`);
    audits[writer]!.child.kill('SIGKILL');
    await audits[writer]!.exited;
    const restartAt = Date.now();
    await startAudit(writer);
    faults.push({ name: 'audit writer killed', recovery_s: await recovered(restartAt) });

    await at(0.5);
    const jsm = await jetstreamManager(nc);
    const leaderName = (await jsm.streams.info(topology.eventStream)).cluster?.leader;
    const leader = nats.nodes.find((n) => n.name === leaderName) ?? nats.nodes[0]!;
    progress(`fault 3: kill -9 of NATS node ${leader.name} (stream leader)`);
    await leader.kill9();
    await sleep(5_000);
    await leader.start();
    faults.push({ name: 'nats stream leader killed', recovery_s: await recovered(Date.now()) });

    await at(0.7);
    progress('fault 4: PostgreSQL frozen for 10 s');
    pg.primary.pause();
    await sleep(10_000);
    pg.primary.resume();
    faults.push({ name: 'postgres frozen 10 s', recovery_s: await recovered(Date.now()) });

    await at(0.85);
    const other = 1 - (await writerIndex());
    progress(`fault 5: graceful restart of audit instance ${other}`);
    await audits[other]!.stop('SIGTERM');
    const gracefulAt = Date.now();
    await startAudit(other);
    faults.push({ name: 'audit restarted (SIGTERM)', recovery_s: await recovered(gracefulAt) });

    await load;
    const publishedS = (Date.now() - started) / 1000;
    progress(`published ${published.size} events in ${round(publishedS, 1)} s (${publishRetries} publish retries); waiting for the ledger…`);
    const ledgered = async () => {
      const rows = await pg!.primary.query<{ event_id: string }>('select event_id::text from audit.log_entries');
      const ids = rows.map((r) => r.event_id);
      const mine = ids.filter((id) => published.has(id));
      return { mine: new Set(mine).size, duplicates: mine.length - new Set(mine).size };
    };
    const drained = Date.now();
    let counts = await ledgered();
    while (counts.mine < published.size && Date.now() - drained < 180_000) {
      await sleep(1_000);
      counts = await ledgered();
    }
    const deadLettered = (await jsm.streams.info(topology.deadLetterStream).catch(() => null))?.state.messages ?? 0;
    const lost = published.size - counts.mine;
    printResult({
      bench: 'chaos',
      value: lost,
      baseline: 0,
      ratio: 0,
      unit: 'events lost',
      published: published.size,
      ledgered: counts.mine,
      dead_lettered_transient: deadLettered,
      duplicates: counts.duplicates,
      publish_retries: publishRetries,
      faults,
      max_recovery_s: Math.max(...faults.map((f) => f.recovery_s)),
      rate_per_s: RATE,
      drain_s: round((Date.now() - drained) / 1000, 1),
    });
    if (lost > 0 || deadLettered > 0 || counts.duplicates > 0) process.exitCode = 1;
  } finally {
    for (const proc of audits) await proc?.stop('SIGKILL').catch(() => undefined);
    await nc?.close().catch(() => undefined);
    await nats?.remove().catch(() => undefined);
    await pg?.remove().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
};

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
