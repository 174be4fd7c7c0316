import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Client } from 'pg';

/**
 * The physical baseline of the audit benchmarks: a bare durable pull consumer on `stream` (deliver
 * all) → multi-row `INSERT … ON CONFLICT DO NOTHING` of each envelope into a bare table, at most
 * `batch` per transaction, acked after commit. Consumes from the call on; `done` resolves once
 * `count` envelopes are committed.
 */
export const startRawDrain = async (nc: NatsConnection, stream: string, sql: Client, count: number, batch = 500) => {
  await sql.query('create table raw_events (id uuid primary key, body jsonb not null)');
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add(stream, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: 4_000 });
  const consumer = await jetstream(nc).consumers.get(stream, 'raw');
  const decoder = new TextDecoder();
  const queue: JsMsg[] = [];
  let wake: (() => void) | null = null;
  const messages = await consumer.consume({ max_messages: 2_000, callback: (m) => (queue.push(m), wake?.()) });
  const done = (async () => {
    let committed = 0;
    while (committed < count) {
      if (queue.length === 0) await new Promise<void>((r) => (wake = r));
      wake = null;
      const taken = queue.splice(0, batch);
      const rows = taken.map((m) => JSON.parse(decoder.decode(m.data)) as { id: string });
      await sql.query('begin');
      await sql.query('insert into raw_events (id, body) select * from unnest($1::uuid[], $2::jsonb[]) on conflict do nothing', [
        rows.map((r) => r.id),
        rows.map((r) => JSON.stringify(r)),
      ]);
      await sql.query('commit');
      for (const m of taken) m.ack();
      committed += taken.length;
    }
  })();
  return { done, close: () => messages.close() };
};
