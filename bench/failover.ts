/**
 * Failover of a real PostgreSQL primary: N (default 10) kill-and-failover drills on a primary /
 * streaming-standby pair watched by the failover service (its built `dist/main.js`, as a process
 * of its own, default settings: probe every 500 ms, failover after 3 failed probes).
 *
 * Each drill: write some rows, SIGKILL the primary's postmaster, and measure what a client sees:
 * kill → the route record (watched with `watchPrimary`) names a new primary → a first committed
 * INSERT on it. That client-side RTO is the value (p99 of the drills). The service's own RTO (first
 * failed probe → routed, from FailoverCompleted) is reported beside it. Between drills the killed
 * primary is rebuilt as a standby of the new one (`pg_basebackup`) and declared rebuilt through
 * the API, so the pair swaps roles every drill.
 *
 * Usage: `npm run bench -- failover [--drills N]`. Baseline: the brief's RTO, 30 s (Patroni with
 * default timers is ~45 s, pg_auto_failover 20–30 s). Goals: p99 < 5,000 ms, p50 < 3,000 ms. The
 * ratio is value / baseline: lower is better.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectTestNats, createTestTopology, pollUntil, readStream } from '@continuity/messaging/testing';
import type { ContinuityEvent } from '@continuity/contracts';
import { createPgCluster, startServiceProcess, TEST_DATABASE_URL, type PgCluster, type PgNode, type ServiceProcess } from '@continuity/runtime/testing';
import { FailoverStore } from '@continuity/failover/coordination/failover-store.js';
import { watchPrimary } from '@continuity/contracts';
import type { RouteRecord } from '@continuity/contracts';
import { intOption, percentile, printResult, progress, round } from './lib/report.js';

const DRILLS = intOption('drills', 'BENCH_DRILLS', 10);
const BASELINE_MS = 30_000;
const RESOURCE = 'bench-db';
const PROBE_INTERVAL_MS = 500;

interface Drill {
  clientRtoMs: number;
  routedAfterMs: number;
  serviceRtoMs: number;
  detectMs: number;
  promoteMs: number;
  lagBytes: number | null;
}

const main = async () => {
  const nc = await connectTestNats();
  const topology = await createTestTopology(nc, 'bfail');
  const configDir = mkdtempSync(join(tmpdir(), 'continuity-bench-failover-'));
  let cluster: PgCluster | null = null;
  let service: ServiceProcess | null = null;
  let watch: ReturnType<typeof watchPrimary> | null = null;
  try {
    progress('creating a primary and a streaming standby…');
    cluster = await createPgCluster({ standbys: 1 });
    const configFile = join(configDir, 'continuity.yaml');
    writeFileSync(
      configFile,
      [
        'failover:',
        '  resources:',
        `    ${RESOURCE}:`,
        '      maxLagBytes: 16777216',
        '      members:',
        ...cluster.nodes.map((n, i) => `        - { name: ${n.name}, connection: "${n.url}", role: ${i === 0 ? 'primary' : 'standby'} }`),
        '',
      ].join('\n'),
    );
    service = await startServiceProcess('failover', {
      CONTINUITY_NAMESPACE: topology.namespace,
      CONTINUITY_CONFIG: configFile,
      DATABASE_URL: TEST_DATABASE_URL,
      FAILOVER_INSTANCE_ID: 'bench',
      LOG_LEVEL: 'warn',
    });
    const base = `http://127.0.0.1:${service.port}`;
    const proc = service;
    await pollUntil(async () => (await fetch(`${base}/health/live`).catch(() => null))?.ok, { what: `the failover service to listen; it printed:\n${proc.output()}`, timeoutMs: 20_000 });

    // The client's view of the primary, as an application would follow it.
    let latest: RouteRecord | null = null;
    const waiters: Array<(route: RouteRecord) => void> = [];
    await pollUntil(async () => (await fetch(`${base}/failover/${RESOURCE}/primary`)).status === 200, { what: 'the initial route' });
    watch = watchPrimary(nc, RESOURCE, { namespace: topology.namespace });
    void (async () => {
      for await (const route of watch!) {
        latest = route;
        for (const wake of waiters.splice(0)) wake(route);
      }
    })();
    await pollUntil(() => latest, { what: 'watchPrimary to yield the route' });
    const nextRoute = (afterEpoch: number) =>
      new Promise<RouteRecord>((resolve) => {
        if (latest && latest.epoch > afterEpoch) return resolve(latest);
        const wait = (route: RouteRecord) => (route.epoch > afterEpoch ? resolve(route) : waiters.push(wait));
        waiters.push(wait);
      });

    const drills: Drill[] = [];
    for (let i = 0; i < DRILLS; i++) {
      const route = latest! as RouteRecord;
      const primary = cluster.node(route.primary);
      const standby = cluster.nodes.find((n) => n !== primary)!;
      await primary.insertRows(200, `drill-${i}`);
      await standby.waitForReplay(await primary.currentLsn());
      // The service must see a healthy pair before the drill (lag is measured against what it saw).
      await waitForHealthyPair(base, primary.name, standby.name);
      // A real crash falls anywhere between two probes: kill at a random phase of the probe interval.
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * PROBE_INTERVAL_MS)));

      const killedAt = Date.now();
      primary.kill9();
      const newRoute = await nextRoute(route.epoch);
      const routedAfterMs = Date.now() - killedAt;
      const newPrimary = cluster.node(newRoute.primary);
      await firstWrite(newPrimary);
      const clientRtoMs = Date.now() - killedAt;

      const completed = await pollUntil(async () => failoverCompleted(nc, topology.eventStream, newRoute.epoch), { what: `FailoverCompleted for epoch ${newRoute.epoch}` });
      const t = completed.data.timeline;
      const drill: Drill = {
        clientRtoMs,
        routedAfterMs,
        serviceRtoMs: completed.data.rtoMs,
        detectMs: Date.parse(t.detectedAt) - killedAt,
        promoteMs: Date.parse(t.writableAt) - Date.parse(t.decidedAt),
        lagBytes: completed.data.replicationLagBytes,
      };
      drills.push(drill);
      progress(
        `drill ${i + 1}/${DRILLS}: ${primary.name} killed → ${newPrimary.name} written to after ${clientRtoMs} ms ` +
          `(routed after ${routedAfterMs} ms; service RTO ${drill.serviceRtoMs} ms: detected ${drill.detectMs} ms after the kill, promote+confirm ${drill.promoteMs} ms; lag ${drill.lagBytes} bytes)`,
      );

      // Rebuild the killed primary as a standby of the new one and hand it back to the service.
      await cluster.rebuild(primary, newPrimary);
      await pollUntil(async () => (await fetch(`${base}/failover/${RESOURCE}/members/${primary.name}/rebuilt`, { method: 'POST' })).status === 200, {
        what: `${primary.name} to be accepted as rebuilt`,
        timeoutMs: 10_000,
      });
    }

    const client = drills.map((d) => d.clientRtoMs);
    const service_ = drills.map((d) => d.serviceRtoMs);
    const p99 = percentile(client, 99);
    progress(
      `client RTO (kill → first write on the routed primary): p50 ${percentile(client, 50)} ms, p99 ${p99} ms, max ${Math.max(...client)} ms; ` +
        `service RTO (first failed probe → routed): p50 ${percentile(service_, 50)} ms, p99 ${percentile(service_, 99)} ms`,
    );
    printResult({
      bench: 'failover',
      value: p99,
      baseline: BASELINE_MS,
      unit: 'ms (p99 kill → first committed write on the routed new primary; lower is better)',
      p50_ms: percentile(client, 50),
      max_ms: Math.max(...client),
      drills: drills.length,
      service_rto_p50_ms: percentile(service_, 50),
      service_rto_p99_ms: percentile(service_, 99),
      routed_p50_ms: percentile(drills.map((d) => d.routedAfterMs), 50),
      detect_p50_ms: percentile(drills.map((d) => d.detectMs), 50),
      promote_p50_ms: percentile(drills.map((d) => d.promoteMs), 50),
      max_lag_bytes: Math.max(...drills.map((d) => d.lagBytes ?? 0)),
      probe_interval_ms: PROBE_INTERVAL_MS,
      failures_before_failover: 3,
      goal_p99_ms: 5_000,
      goal_p50_ms: 3_000,
      meets_goals: p99 < 5_000 && percentile(client, 50) < 3_000,
      ratio: round(p99 / BASELINE_MS, 3),
    });
  } finally {
    watch?.stop();
    await service?.stop('SIGTERM');
    await cluster?.remove();
    rmSync(configDir, { recursive: true, force: true });
    await FailoverStore.remove(nc, topology.namespace).catch(() => undefined);
    await topology.remove().catch(() => undefined);
    await nc.close();
  }
};

/** The service has probed both members since they were last touched: primary healthy, standby streaming and unfenced. */
const waitForHealthyPair = async (base: string, primary: string, standby: string) => {
  const since = Date.now();
  await pollUntil(
    async () => {
      const status = (await (await fetch(`${base}/failover/${RESOURCE}`)).json()) as {
        primary: string;
        fenced: unknown[];
        members: { name: string; observation: { at: string; reachable: boolean; inRecovery?: boolean } | null }[];
      };
      const obs = (name: string) => status.members.find((m) => m.name === name)?.observation;
      const p = obs(primary);
      const s = obs(standby);
      return (
        status.primary === primary &&
        status.fenced.length === 0 &&
        p?.reachable && p.inRecovery === false && Date.parse(p.at) > since &&
        s?.reachable && s.inRecovery === true && Date.parse(s.at) > since
      );
    },
    { what: `the service to see ${primary} primary and ${standby} a healthy standby`, timeoutMs: 10_000 },
  );
};

/** Retries an INSERT on `node` until one commits. */
const firstWrite = async (node: PgNode) => {
  for (;;) {
    try {
      await node.insertRows(1, 'first-write');
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
};

const failoverCompleted = async (nc: NatsConnection, stream: string, epoch: number) =>
  (await readStream(nc, stream))
    .map((m) => m.json<ContinuityEvent>())
    .find((e): e is ContinuityEvent<'FailoverCompleted'> => e.type === 'FailoverCompleted' && (e as ContinuityEvent<'FailoverCompleted'>).data.epoch === epoch) ?? null;

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`failover benchmark failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
