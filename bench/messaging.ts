/**
 * Messaging throughput: publish → consume → ack, in events/s.
 *
 *   project:  ContinuityPublisher (zod-validated envelope, msgID, trace headers, awaited ack)
 *             → JetStream → Nest microservice on JetStreamTransport, `@OnEvent('BackupCreated')`
 *   baseline: a bare JetStream application: builds each envelope of the same shape (a UUIDv7 id, the
 *             time, the same data), `JSON.stringify` + `Buffer.from`, `js.publish(subject, bytes, { msgID })`
 *             → JetStream → bare durable pull consumer, `JSON.parse` + `m.ack()` each
 *
 * Both paths get the same event data, made before the clock starts. Until issue 15 the baseline's
 * envelopes were also serialised before its clock started, so it was timed without work every real
 * publisher does per event (an id, a timestamp, JSON, bytes: ~5 µs of CPU per event); it now does
 * that work inside the timed span, as plainly as a bare application would (`uuid`'s v7, the time
 * stamped once per millisecond as the product's publisher stamps it, `JSON.stringify`,
 * `Buffer.from`). It still does no validation, tracing or authorization: those are the product's
 * overhead being measured.
 *
 * Both publish pipelined (windows of WINDOW publishes awaited together) while their consumer runs,
 * each onto a fresh isolated topology, and time from the first publish to the N-th event handled
 * with its ack flushed to the server. A warm-up round of each, then ROUNDS alternating rounds; the
 * medians are reported. Each round also measures this process's CPU time (user + system) per event over
 * the same span: publisher, consumer and client together, where each path's cost goes rather than how
 * long it waited for the CPU (reported as `cpuUsPerEvent` and `cpuRatio`, baseline CPU / project CPU;
 * it still varies by ±15 % on a loaded machine, so repeat it too).
 * Usage: `npm run bench -- messaging [--events N] [--rounds R]` (or BENCH_EVENTS).
 */
import 'reflect-metadata';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Payload } from '@nestjs/microservices';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import { continuityEvents, ContinuityPublisher, eventSubject, type ContinuityEvent, type EventDataMap, type Topology } from '@continuity/contracts';
import { aBackupCreatedData } from '@continuity/contracts/testing';
import { v7 as uuidv7 } from 'uuid';
import { JetStreamTransport, OnEvent } from '@continuity/messaging';
import { connectTestNats, createTestTopology, pollUntil, TEST_NATS_URL } from '@continuity/messaging/testing';
import { inWindows, intOption, median, perSecond, printResult, progress, round, withTimeout } from './lib/report.js';

const BENCH = 'messaging';
const options = (() => {
  try {
    return { events: intOption('events', 'BENCH_EVENTS', 20_000), rounds: intOption('rounds', 'BENCH_ROUNDS', 3) };
  } catch (error) {
    progress(`${BENCH}: ${(error as Error).message}\nusage: npm run bench -- ${BENCH} [--events N] [--rounds R]`);
    process.exit(2);
  }
})();
const EVENTS = options.events;
const ROUNDS = options.rounds;
const WARMUP_EVENTS = Math.min(EVENTS, Math.max(1_000, Math.round(EVENTS / 10)));
/** Publishes in flight at once, for both paths. */
const WINDOW = 256;
/** The transport pulls batches of max(256, 2 × concurrency) with max_ack_pending max(1000, …); the baseline pulls the same. */
const PULL_BATCH = 256;
const MAX_ACK_PENDING = 1_000;
const RESOURCE = 'orders-db';
const SERVICE = 'bench';
/** Generous: a healthy round of 20k events takes about a second. */
const roundTimeoutMs = (n: number) => 30_000 + n * 3;

type BenchTopology = Topology & { remove(): Promise<void> };
type Path = 'baseline' | 'project';

// ---------------------------------------------------------------------------------------------
// Topologies are removed at the end of their round, and any left over on error or on a signal.

const liveTopologies = new Set<BenchTopology>();
const freshTopology = async (nc: NatsConnection): Promise<BenchTopology> => {
  const topology = await createTestTopology(nc, 'bench');
  liveTopologies.add(topology);
  return topology;
};
const removeTopology = async (topology: BenchTopology) => {
  liveTopologies.delete(topology);
  await topology.remove();
};
const removeAllTopologies = () => Promise.allSettled([...liveTopologies].map(removeTopology));

// ---------------------------------------------------------------------------------------------
// Project path: a Nest microservice whose handler counts events.

/** The round in progress: the handler resolves `done` when it has seen `target` events. */
const sink = { target: 0, seen: 0, done: () => undefined as void };

@Controller()
class BenchListener {
  @OnEvent('BackupCreated')
  async onBackupCreated(@Payload() _event: ContinuityEvent<'BackupCreated'>): Promise<void> {
    // setImmediate: let the transport's ack of this very message (a few microtasks later) go out first.
    if (++sink.seen === sink.target) setImmediate(sink.done);
  }
}

@Module({ controllers: [BenchListener] })
class BenchModule {}

interface RoundResult {
  ms: number;
  eventsPerSecond: number;
  /** This process's CPU time (user + system) per event, in µs, over the timed span. */
  cpuUsPerEvent: number;
}

const cpuUsPerEvent = (since: NodeJS.CpuUsage, n: number) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / n;
};

const runProject = async (pubNc: NatsConnection, n: number): Promise<RoundResult> => {
  const topology = await freshTopology(pubNc);
  let app: INestMicroservice | undefined;
  try {
    const transport = new JetStreamTransport({ serviceName: SERVICE, servers: TEST_NATS_URL, topology });
    app = await NestFactory.createMicroservice(BenchModule, { strategy: transport, logger: false });
    await app.listen();
    const consumerNc = transport.unwrap<NatsConnection>();

    const publisher = new ContinuityPublisher(jetstream(pubNc), { source: SERVICE, topology });
    const data: EventDataMap['BackupCreated'][] = Array.from({ length: n }, () => aBackupCreatedData());
    const handled = new Promise<void>((resolve) => Object.assign(sink, { target: n, seen: 0, done: resolve }));

    const cpu = process.cpuUsage();
    const started = performance.now();
    const publishing = inWindows(n, WINDOW, (i) => publisher.publish('BackupCreated', { resource: RESOURCE, data: data[i]! }));
    await withTimeout(Promise.all([publishing, handled]), roundTimeoutMs(n), () => `project handled ${sink.seen} of ${n} events`);
    await consumerNc.flush(); // the N-th ack has reached the server
    const ms = performance.now() - started;
    const cpuUs = cpuUsPerEvent(cpu, n);

    await verify(pubNc, topology, `${SERVICE}_BackupCreated`, n);
    if (sink.seen !== n) throw new Error(`project handler ran ${sink.seen} times for ${n} events (redeliveries?)`);
    return { ms, eventsPerSecond: perSecond(n, ms), cpuUsPerEvent: cpuUs };
  } finally {
    sink.target = 0;
    await app?.close();
    await removeTopology(topology);
  }
};

// ---------------------------------------------------------------------------------------------
// Baseline: a bare application builds, serialises and publishes each event; bare durable pull consumer.

const runBaseline = async (pubNc: NatsConnection, n: number): Promise<RoundResult> => {
  const topology = await freshTopology(pubNc);
  // Its own connection, as the Nest transport has.
  const consumerNc = await connect({ servers: TEST_NATS_URL, name: `${SERVICE}-baseline` });
  let messages: ConsumerMessages | undefined;
  try {
    const durable = `${SERVICE}_baseline`;
    const jsm = await jetstreamManager(consumerNc);
    await jsm.consumers.add(topology.eventStream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: MAX_ACK_PENDING,
    });
    const subject = eventSubject('BackupCreated', RESOURCE, topology);
    const data: EventDataMap['BackupCreated'][] = Array.from({ length: n }, () => aBackupCreatedData());
    const version = continuityEvents.latestVersion('BackupCreated');
    const js = jetstream(pubNc);
    // What a bare application does per event: an id for deduplication, the time, JSON, bytes.
    let stampedMs = Number.NaN;
    let stamp = '';
    const nowIso = () => {
      const ms = Date.now();
      if (ms !== stampedMs) [stampedMs, stamp] = [ms, new Date(ms).toISOString()];
      return stamp;
    };
    const publishOne = (i: number) => {
      const id = uuidv7();
      const event = {
        id,
        type: 'BackupCreated',
        version,
        source: SERVICE,
        resource: RESOURCE,
        occurredAt: nowIso(),
        correlationId: id,
        causationId: null,
        data: data[i]!,
      };
      return js.publish(subject, Buffer.from(JSON.stringify(event)), { msgID: id });
    };

    let seen = 0;
    let done!: () => void;
    const handled = new Promise<void>((resolve) => (done = resolve));
    const consumer = await jetstream(consumerNc).consumers.get(topology.eventStream, durable);
    messages = await consumer.consume({
      max_messages: PULL_BATCH,
      callback: (m) => {
        JSON.parse(m.string());
        m.ack();
        if (++seen === n) done();
      },
    });

    const cpu = process.cpuUsage();
    const started = performance.now();
    const publishing = inWindows(n, WINDOW, publishOne);
    await withTimeout(Promise.all([publishing, handled]), roundTimeoutMs(n), () => `baseline handled ${seen} of ${n} events`);
    await consumerNc.flush();
    const ms = performance.now() - started;
    const cpuUs = cpuUsPerEvent(cpu, n);

    await verify(pubNc, topology, durable, n);
    if (seen !== n) throw new Error(`baseline consumer saw ${seen} messages for ${n} events (redeliveries?)`);
    return { ms, eventsPerSecond: perSecond(n, ms), cpuUsPerEvent: cpuUs };
  } finally {
    await messages?.close().catch(() => undefined);
    await consumerNc.drain().catch(() => undefined);
    await removeTopology(topology);
  }
};

/** Every event stored once, delivered, and acked: the round measured what it claims. */
const verify = async (nc: NatsConnection, topology: Topology, durable: string, n: number) => {
  const jsm = await jetstreamManager(nc);
  const stored = (await jsm.streams.info(topology.eventStream)).state.messages;
  if (stored !== n) throw new Error(`stream ${topology.eventStream} holds ${stored} messages, expected ${n}`);
  await pollUntil(
    async () => {
      const info = await jsm.consumers.info(topology.eventStream, durable);
      return info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq >= n ? info : null;
    },
    { timeoutMs: 5_000, what: `consumer ${durable} to have acked all ${n} events` },
  );
};

// ---------------------------------------------------------------------------------------------

const runners: Record<Path, (nc: NatsConnection, n: number) => Promise<RoundResult>> = { baseline: runBaseline, project: runProject };

const runOne = async (nc: NatsConnection, path: Path, n: number, label: string) => {
  const result = await runners[path](nc, n);
  progress(
    `${label.padEnd(9)} ${path.padEnd(8)} ${n} events in ${(result.ms / 1000).toFixed(3)} s = ${Math.round(result.eventsPerSecond)} events/s, ${result.cpuUsPerEvent.toFixed(1)} µs CPU/event`,
  );
  return result;
};

const main = async () => {
  progress(`${BENCH}: ${EVENTS} events per round, ${ROUNDS} rounds each after a warm-up of ${WARMUP_EVENTS}, window ${WINDOW}`);
  const nc = await connectTestNats();
  try {
    await runOne(nc, 'baseline', WARMUP_EVENTS, 'warm-up');
    await runOne(nc, 'project', WARMUP_EVENTS, 'warm-up');
    const rates: Record<Path, number[]> = { baseline: [], project: [] };
    const cpu: Record<Path, number[]> = { baseline: [], project: [] };
    for (let r = 1; r <= ROUNDS; r++) {
      // Alternate which goes first, so drift on a shared machine hits both alike.
      const order: Path[] = r % 2 ? ['baseline', 'project'] : ['project', 'baseline'];
      for (const path of order) {
        const result = await runOne(nc, path, EVENTS, `round ${r}/${ROUNDS}`);
        rates[path].push(result.eventsPerSecond);
        cpu[path].push(result.cpuUsPerEvent);
      }
    }
    const value = Math.round(median(rates.project));
    const baseline = Math.round(median(rates.baseline));
    const cpuUs = { project: round(median(cpu.project), 1), baseline: round(median(cpu.baseline), 1) };
    const cpuRatio = round(cpuUs.baseline / cpuUs.project, 3);
    progress(`median: project ${value} events/s, baseline ${baseline} events/s, ratio ${round(value / baseline, 3)}; CPU µs/event project ${cpuUs.project}, baseline ${cpuUs.baseline}, ratio ${cpuRatio}`);
    printResult({ bench: BENCH, value, baseline, ratio: round(value / baseline, 3), events: EVENTS, rounds: ROUNDS, unit: 'events/s', cpuUsPerEvent: cpuUs, cpuRatio });
  } finally {
    await removeAllTopologies();
    await nc.drain().catch(() => undefined);
  }
};

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progress(`${signal}: removing benchmark streams`);
    void removeAllTopologies().finally(() => process.exit(130));
  });
}

main().catch((error: unknown) => {
  progress(`${BENCH} failed: ${(error as Error)?.stack ?? String(error)}`);
  process.exitCode = 1;
  // Everything was closed in `finally`s; should a handle still linger, do not hang.
  setTimeout(() => process.exit(1), 10_000).unref();
});
