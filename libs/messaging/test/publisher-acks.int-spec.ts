import { connect, errors as natsErrors, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, JetStreamApiError } from '@nats-io/jetstream';
import { ContinuityPublisher, eventSubject, JetStreamAcks, Topology } from '@continuity/contracts';
import { aBackupCreatedData } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, readStream, TEST_NATS_URL } from '../src/testing.js';

/** The typed publisher's acks come through `JetStreamAcks`, with the NATS client's semantics. */
describe('ContinuityPublisher acks (real NATS)', () => {
  let nc: NatsConnection;
  let topology: Topology & { remove(): Promise<void> };
  let publisher: ContinuityPublisher;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'acks');
    publisher = new ContinuityPublisher(jetstream(nc), { source: 'test', topology });
  });

  afterAll(async () => {
    await topology.remove();
    await nc.drain();
  });

  it('resolves once stored, with the sequence, the msgID header and duplicates flagged', async () => {
    const data = aBackupCreatedData();
    const published = await Promise.all(Array.from({ length: 50 }, () => publisher.publish('BackupCreated', { resource: 'orders-db', data })));
    const again = await publisher.publish('BackupCreated', { resource: 'orders-db', data, id: published[0]!.event.id });
    expect(published.map((p) => p.duplicate)).toEqual(published.map(() => false));
    expect(new Set(published.map((p) => p.seq)).size).toBe(50);
    expect(again).toMatchObject({ seq: published[0]!.seq, duplicate: true });
    const stored = await readStream(nc, topology.eventStream);
    expect(stored).toHaveLength(50);
    expect(stored.map((m) => m.header.get('Nats-Msg-Id'))).toEqual(published.map((p) => p.event.id));
  });

  it('rejects as the client does when no stream takes the subject (no responders)', async () => {
    const acks = JetStreamAcks.of(nc);
    const error = await acks.publish(`${topology.namespace}.nowhere.${Date.now()}`, new Uint8Array(1), natsHeaders(), 2_000).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'JetStreamNotEnabled', message: 'jetstream is not enabled' });
    expect((error as Error).cause).toBeInstanceOf(natsErrors.NoRespondersError);
  });

  it('rejects with the JetStream API error when the stream refuses the message', async () => {
    const jsm = await jetstreamManager(nc);
    const stream = `${topology.eventStream}_SMALL`;
    const subject = `${topology.namespace}.small.${Date.now()}`;
    await jsm.streams.add({ name: stream, subjects: [subject], max_msg_size: 16 });
    try {
      const error = await JetStreamAcks.of(nc).publish(subject, new Uint8Array(64), natsHeaders(), 2_000).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(JetStreamApiError);
      expect((error as JetStreamApiError).message).toMatch(/maximum/i);
    } finally {
      await jsm.streams.delete(stream);
    }
  });

  it('times out with a TimeoutError when no ack comes, and rejects what is in flight when the connection closes', async () => {
    const own = await connect({ servers: TEST_NATS_URL });
    try {
      // A responder that never answers: the publish is received but not acked.
      const subject = `${topology.namespace}.silent.${Date.now()}`;
      own.subscribe(subject, { callback: () => undefined });
      await own.flush();
      const started = Date.now();
      const timedOut = await JetStreamAcks.of(own).publish(subject, new Uint8Array(1), natsHeaders(), 200).catch((e: unknown) => e);
      expect(timedOut).toBeInstanceOf(natsErrors.TimeoutError);
      expect(Date.now() - started).toBeLessThan(2_000);

      const pending = JetStreamAcks.of(own).publish(subject, new Uint8Array(1), natsHeaders(), 10_000).catch((e: unknown) => e);
      await own.close();
      expect(await pending).toBeInstanceOf(Error);
    } finally {
      if (!own.isClosed()) await own.close();
    }
  });

  it('still publishes through a JetStream client without a connection of its own (a test double)', async () => {
    const calls: string[] = [];
    const js = jetstream(nc);
    const double = { publish: (subject: string, ...rest: Parameters<typeof js.publish> extends [string, ...infer R] ? R : never) => (calls.push(subject), js.publish(subject, ...rest)) };
    const viaDouble = new ContinuityPublisher(double as unknown as typeof js, { source: 'test', topology });
    const { event } = await viaDouble.publish('BackupCreated', { resource: 'billing-db', data: aBackupCreatedData() });
    expect(calls).toEqual([eventSubject('BackupCreated', 'billing-db', topology)]);
    expect(event.resource).toBe('billing-db');
  });
});
