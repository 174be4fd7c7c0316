import { Catch, Controller, INestMicroservice, Module, RpcExceptionFilter } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { throwError } from 'rxjs';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { ContinuityEvent, ContinuityPublisher, isolatedTopology, Topology } from '@continuity/contracts';
import { anEvent, testRunId } from '@continuity/contracts/testing';
import { ensureKvBucket, ensureTopology, JetStreamTransport, OnEvent } from '../src/index.js';
import { NatsCluster, pollUntil, readDeadLetters, startNatsCluster, streamMessageCount } from '../src/testing.js';

/**
 * The failure model's NATS half, on real `nats-server` processes: a node of a 3-node cluster
 * killed with SIGKILL, and a single server restarted, both while a publisher publishes at a steady
 * rate and the transport consumes. Nothing may be lost or dead-lettered.
 */

@Catch()
class RethrowEventErrors implements RpcExceptionFilter<unknown> {
  catch(exception: unknown) {
    return throwError(() => exception);
  }
}

/** Deliveries per event id: an idempotent handler, as every Continuity consumer is. */
const handled = new Map<string, number>();

@Controller()
class CountingListener {
  @OnEvent('BackupCreated')
  onBackupCreated(@Payload() event: ContinuityEvent<'BackupCreated'>) {
    handled.set(event.id, (handled.get(event.id) ?? 0) + 1);
  }
}

@Module({ controllers: [CountingListener] })
class ListenerModule {}

const startConsumer = async (servers: string, topology: Topology, replicas: number): Promise<INestMicroservice> => {
  const moduleRef = await Test.createTestingModule({ imports: [ListenerModule] }).compile();
  const app = moduleRef.createNestMicroservice({
    strategy: new JetStreamTransport({
      serviceName: 'cluster',
      servers: servers.split(','),
      topology,
      streams: { replicas },
      // A lost ack (its node died) is redelivered after this: short, so the test does not wait long.
      ackWaitMs: 2_000,
    }),
    logger: false,
  });
  app.useGlobalFilters(new RethrowEventErrors());
  await app.listen();
  return app;
};

interface PublishRun {
  ids: string[];
  /** Publishes that failed and were sent again with the same event id. */
  retries: number;
  /** Retries JetStream recognised as already stored (`Nats-Msg-Id` dedupe). */
  duplicates: number;
}

/**
 * Publishes `count` events, one every `intervalMs`, as a service does: a publish that fails is sent
 * again with the same event id until JetStream acks it. `during(i)` runs after the i-th event.
 */
const publishSteadily = async (publisher: ContinuityPublisher, count: number, intervalMs: number, during: (i: number) => Promise<void>): Promise<PublishRun> => {
  const run: PublishRun = { ids: [], retries: 0, duplicates: 0 };
  const deadline = Date.now() + 90_000;
  for (let i = 0; i < count; i++) {
    const event = anEvent('BackupCreated');
    for (let attempt = 0; ; attempt++) {
      try {
        const { duplicate } = await publisher.publishEnvelope(event);
        if (duplicate) run.duplicates++;
        break;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`event ${i} still not published after 90 s: ${(error as Error).message}`);
        run.retries++;
        await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 500)));
      }
    }
    run.ids.push(event.id);
    await during(i);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return run;
};

const expectEveryEventHandled = async (nc: NatsConnection, topology: Topology, run: PublishRun) => {
  await pollUntil(() => run.ids.every((id) => handled.has(id)), {
    timeoutMs: 30_000,
    what: `every published event to be handled (${run.ids.filter((id) => !handled.has(id)).length} of ${run.ids.length} missing)`,
  });
  // Exactly the published set; a redelivery (an ack lost with its node) may repeat an id, never add one.
  expect(new Set(handled.keys())).toEqual(new Set(run.ids));
  // Retried publishes were deduplicated: each event is stored once.
  expect(await streamMessageCount(nc, topology.eventStream)).toBe(run.ids.length);
  expect(await readDeadLetters(nc, topology)).toEqual([]);
};

describe('NATS failures while publishing and consuming (real nats-server processes)', () => {
  let cluster: NatsCluster | undefined;
  let nc: NatsConnection | undefined;
  let publisherNc: NatsConnection | undefined;
  let consumer: INestMicroservice | undefined;

  beforeEach(() => handled.clear());
  afterEach(async () => {
    await consumer?.close().catch(() => undefined);
    await publisherNc?.close().catch(() => undefined);
    await nc?.close().catch(() => undefined);
    await cluster?.remove();
    consumer = publisherNc = nc = cluster = undefined;
  });

  it('loses nothing when the stream leader of a 3-node cluster is killed mid-publish and comes back', async () => {
    cluster = await startNatsCluster({ size: 3 });
    nc = await cluster.connect('admin');
    const topology = isolatedTopology(testRunId('clu'));
    // Created as a single-node set-up would have left it, then brought to R3 by the service's start.
    await ensureTopology(nc, topology, { replicas: 1 });
    consumer = await startConsumer(cluster.urls, topology, 3);
    const jsm = await jetstreamManager(nc);
    const stream = await pollUntil(async () => {
      const info = await jsm.streams.info(topology.eventStream);
      return info.config.num_replicas === 3 && info.cluster?.replicas?.length === 2 && info.cluster.replicas.every((r) => r.current) ? info : null;
    }, { timeoutMs: 20_000, what: 'the event stream to be R3 with current replicas' });
    expect(stream.cluster?.leader).toMatch(/^n[123]$/);
    expect((await jsm.streams.info(topology.deadLetterStream)).config.num_replicas).toBe(3);
    const leases = await ensureKvBucket(nc, `${topology.namespace}_leases`, { replicas: 3, storage: StorageType.File, history: 1, ttl: 60_000 });
    const leaseRevision = await leases.create('orders-db', 'instance-a');

    publisherNc = await cluster.connect('publisher');
    const publisher = new ContinuityPublisher(jetstream(publisherNc), { source: 'test', topology, timeoutMs: 2_000 });
    let killed: string | undefined;
    const run = await publishSteadily(publisher, 300, 10, async (i) => {
      if (i === 100) {
        killed = await cluster!.streamLeader(nc!, topology.eventStream);
        await cluster!.node(killed!).kill9();
      }
      if (i === 200) await cluster!.node(killed!).start();
    });

    await expectEveryEventHandled(nc, topology, run);
    // Another node took the lead while the old leader was dead; the returned node caught up.
    const after = await pollUntil(async () => {
      const info = await jsm.streams.info(topology.eventStream);
      return info.cluster?.replicas?.length === 2 && info.cluster.replicas.every((r) => r.current) ? info : null;
    }, { timeoutMs: 20_000, what: 'the restarted node to catch up' });
    expect(after.cluster?.replicas?.map((r) => r.name)).toContain(killed);
    // The R3 lease bucket kept its entry and still takes compare-and-set writes.
    expect((await leases.get('orders-db'))?.string()).toBe('instance-a');
    expect(await leases.update('orders-db', 'instance-b', leaseRevision)).toBeGreaterThan(leaseRevision);
  }, 180_000);

  it('loses nothing when a single NATS server is restarted mid-publish; consumers resume', async () => {
    cluster = await startNatsCluster({ size: 1 });
    const [server] = cluster.nodes;
    nc = await cluster.connect('admin');
    const topology = isolatedTopology(testRunId('one'));
    consumer = await startConsumer(cluster.urls, topology, 1);

    publisherNc = await cluster.connect('publisher');
    const publisher = new ContinuityPublisher(jetstream(publisherNc), { source: 'test', topology, timeoutMs: 2_000 });
    let handledBeforeRestart = 0;
    let restarted: Promise<void> | undefined;
    const run = await publishSteadily(publisher, 200, 10, async (i) => {
      if (i !== 100) return;
      await server!.kill9();
      handledBeforeRestart = handled.size;
      // Down for 3 s (fault injection, not a wait for a result): the publisher keeps trying meanwhile.
      restarted = new Promise((resolve) => setTimeout(resolve, 3_000)).then(() => server!.start());
    });
    await restarted;

    expect(handledBeforeRestart).toBeGreaterThan(0);
    // The outage was felt: publishes failed and were sent again with the same event id.
    expect(run.retries).toBeGreaterThan(0);
    await expectEveryEventHandled(nc, topology, run);
  }, 180_000);
});
