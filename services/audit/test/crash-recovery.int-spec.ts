import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Client } from 'pg';
import { aBackupCreatedData, ownersPublisher } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { createTestDatabase, ServiceProcess, startServiceProcess } from '@continuity/runtime/testing';
import { envelopeLeafHash, rootFromLeafHashes } from '@continuity/contracts/ledger';
import { OPERATOR } from './harness.js';

const EVENTS = 10_000;

describe('audit ledger survives being killed mid-ingest (real process, NATS and PostgreSQL)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let sql: Client;
  let proc: ServiceProcess | undefined;

  const start = () =>
    startServiceProcess('audit', {
      DATABASE_URL: db.url,
      CONTINUITY_NAMESPACE: topology.namespace,
      AUDIT_SIGNING_KEY_FILE: join(tmpdir(), `continuity-audit-${topology.namespace}.pem`),
      AUDIT_SIGN_INTERVAL_MS: '3600000', // no checkpoint events: the log holds exactly the published events
      AUDIT_EVALUATE_INTERVAL_MS: '0', // no SLO/risk findings of the service's own in the log
      // Messages the killed process held come back after ack_wait; keep the test short.
      JETSTREAM_ACK_WAIT_MS: '2000',
    });
  const count = async () => Number((await sql.query('select count(*) from audit.log_entries').catch(() => ({ rows: [{ count: 0 }] }))).rows[0].count);

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'crash');
    db = await createTestDatabase('audit');
    sql = new Client({ connectionString: db.url });
    await sql.connect();
  });

  afterAll(async () => {
    await proc?.stop('SIGKILL');
    await sql?.end();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
  });

  it('has 10,000 entries, indices 0…9,999 without a gap, and the root of a fresh recomputation after SIGKILL and restart', async () => {
    const publisher = ownersPublisher(jetstream(nc), { topology });
    const ids = new Set<string>();
    for (let i = 0; i < EVENTS; i += 250) {
      const published = await Promise.all(
        Array.from({ length: 250 }, (_, j) => publisher.publish('BackupCreated', { resource: `db-${(i + j) % 17}`, data: aBackupCreatedData() })),
      );
      for (const p of published) ids.add(p.event.id);
    }

    proc = await start();
    const seenBeforeKill = await pollUntil(async () => {
      const n = await count();
      return n > 0 ? n : null;
    }, { timeoutMs: 30_000, intervalMs: 5, what: 'the first committed batch' });
    proc.child.kill('SIGKILL');
    await proc.exited;
    const atKill = await count();
    expect(seenBeforeKill).toBeLessThan(EVENTS);
    expect(atKill).toBeLessThan(EVENTS);

    proc = await start();
    await proc.waitForOutput('audit listening');
    await pollUntil(async () => (await count()) >= EVENTS, { timeoutMs: 60_000, what: `${EVENTS} entries after the restart` });

    const { rows } = await sql.query('select log_index, event_id, envelope, leaf_hash from audit.log_entries order by log_index');
    expect(rows).toHaveLength(EVENTS);
    expect(rows.every((r, i) => Number(r.log_index) === i)).toBe(true);
    expect(new Set(rows.map((r) => r.event_id))).toEqual(ids);
    const leaves = rows.map((r) => envelopeLeafHash(r.envelope));
    expect(rows.every((r, i) => (r.leaf_hash as Buffer).equals(leaves[i]!))).toBe(true);

    const { rows: states } = await sql.query(`select sum(entry_count)::int as total from audit.resource_states`);
    expect(states[0].total).toBe(EVENTS);

    const res = await fetch(`http://127.0.0.1:${proc.port}/audit/tree-heads`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR}` } });
    const head = (await res.json()) as { treeSize: number; rootHash: string };
    expect(head.treeSize).toBe(EVENTS);
    expect(head.rootHash).toBe(rootFromLeafHashes(leaves).toString('hex'));
  }, 120_000);
});
