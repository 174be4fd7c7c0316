import type { NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { ContinuityPublisher, Topology } from '@continuity/contracts';
import { aBackupCreatedData } from '@continuity/contracts/testing';
import { deliveryOf } from '../src/delivery.js';
import { connectTestNats, createTestTopology } from '../src/testing.js';

describe('deliveryOf (real NATS)', () => {
  let nc: NatsConnection;
  let topology: Topology & { remove(): Promise<void> };

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'dlv');
  });

  afterAll(async () => {
    await topology.remove();
    await nc.drain();
  });

  it('reads the stream and delivery count the client reads from a delivered message, also on redelivery', async () => {
    await new ContinuityPublisher(jetstream(nc), { source: 'test', topology }).publish('BackupCreated', { resource: 'orders-db', data: aBackupCreatedData() });
    await (await jetstreamManager(nc)).consumers.add(topology.eventStream, { durable_name: 'dlv', ack_policy: AckPolicy.Explicit });
    const consumer = await jetstream(nc).consumers.get(topology.eventStream, 'dlv');
    const read = [];
    for (let delivery = 1; delivery <= 2; delivery++) {
      const msg = (await consumer.next({ expires: 5_000 }))!;
      read.push({ ours: deliveryOf(msg), client: { stream: msg.info.stream, deliveryCount: msg.info.deliveryCount } });
      if (delivery === 1) msg.nak();
      else msg.ack();
    }
    expect(read.map((r) => r.ours)).toEqual([
      { stream: topology.eventStream, deliveryCount: 1 },
      { stream: topology.eventStream, deliveryCount: 2 },
    ]);
    expect(read.map((r) => r.ours)).toEqual(read.map((r) => r.client));
  });
});
