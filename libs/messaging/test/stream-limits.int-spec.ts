import type { NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { isolatedTopology } from '@continuity/contracts';
import { testRunId } from '@continuity/contracts/testing';
import { DEAD_LETTER_MAX_BYTES, deadLetterFill, ensureTopology, EVENT_MAX_MSG_SIZE, removeTopology } from '../src/topology.js';
import { connectTestNats } from '../src/testing.js';

describe('stream size limits (real NATS)', () => {
  let nc: NatsConnection;
  const topology = isolatedTopology(testRunId('lim'));

  beforeAll(async () => (nc = await connectTestNats()));
  afterAll(async () => {
    await removeTopology(nc, topology);
    await nc.close();
  });

  it('bounds message size on the event stream (never its bytes or count) and the dead-letter stream by bytes, refusing new when full', async () => {
    const jsm = await jetstreamManager(nc);
    // A dead-letter stream as earlier versions created it: unbounded, discarding old.
    await jsm.streams.add({ name: topology.deadLetterStream, subjects: [`${topology.namespace}.dlq.>`], retention: RetentionPolicy.Limits, storage: StorageType.File });
    await ensureTopology(nc, topology);
    const events = (await jsm.streams.info(topology.eventStream)).config;
    expect(events).toMatchObject({ max_msg_size: EVENT_MAX_MSG_SIZE, max_bytes: -1, max_msgs: -1, deny_delete: true, deny_purge: true });
    const dlq = (await jsm.streams.info(topology.deadLetterStream)).config;
    expect(dlq).toMatchObject({ max_bytes: DEAD_LETTER_MAX_BYTES, discard: DiscardPolicy.New });
    expect(await deadLetterFill(jsm, topology)).toMatchObject({ bytes: 0, maxBytes: DEAD_LETTER_MAX_BYTES, fill: 0 });
  });

  it('a full dead-letter stream refuses a new dead letter instead of dropping an old one', async () => {
    const small = isolatedTopology(testRunId('lim'));
    try {
      const jsm = await ensureTopology(nc, small, { deadLetterMaxBytes: 4_096 });
      const js = jetstream(nc);
      const letter = 'x'.repeat(1_000);
      let refused: unknown = null;
      for (let i = 0; i < 10 && !refused; i++) await js.publish(`${small.namespace}.dlq.c`, letter).catch((error: unknown) => (refused = error));
      expect(String(refused)).toMatch(/maximum bytes exceeded/i);
      const { fill } = await deadLetterFill(jsm, small);
      expect(fill).toBeGreaterThan(0.5);
      expect((await jsm.streams.info(small.deadLetterStream)).state.first_seq).toBe(1); // nothing old was dropped
    } finally {
      await removeTopology(nc, small);
    }
  });
});
