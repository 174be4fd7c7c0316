import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { aBackupCreatedData, ownersPublisher } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil, readDeadLetters } from '@continuity/messaging/testing';
import { createPgCluster, PgCluster, ServiceProcess, startServiceProcess } from '@continuity/runtime/testing';
import { envelopeLeafHash } from '../src/ledger/leaf.js';
import { rootFromLeafHashes } from '../src/ledger/merkle.js';
import { OPERATOR } from './harness.js';

/** Longer than the old retry budget (5 deliveries ≈ 7.5 s of back-off), after which events were dead-lettered. */
const OUTAGE_MS = 12_000;
const RATE_PER_S = 25;

describe('audit ledger through a PostgreSQL outage (real process, its own PostgreSQL stopped and started)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let cluster: PgCluster;
  let proc: ServiceProcess | undefined;
  let publishing = false;
  let load: Promise<void> | undefined;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'pgout');
    cluster = await createPgCluster({ standbys: 0 });
  }, 60_000);

  afterAll(async () => {
    publishing = false;
    await load?.catch(() => undefined);
    await proc?.stop('SIGKILL');
    await topology?.remove();
    await cluster?.remove();
    await nc?.close();
  });

  it('records every event published before, during and after the outage, dead-letters none, and says it is not ready meanwhile', async () => {
    const primary = cluster.primary;
    proc = await startServiceProcess('audit', {
      DATABASE_URL: primary.url,
      CONTINUITY_NAMESPACE: topology.namespace,
      AUDIT_SIGNING_KEY_FILE: join(tmpdir(), `continuity-audit-${topology.namespace}.pem`),
      AUDIT_SIGN_INTERVAL_MS: '3600000', // no checkpoint events: the log holds exactly the published events
      AUDIT_TOKENS: `${OPERATOR}:operator`,
    });
    await proc.waitForOutput('audit listening');
    const ready = async () => {
      const res = await fetch(`http://127.0.0.1:${proc!.port}/health/ready`, { signal: AbortSignal.timeout(5_000) });
      return { status: res.status, body: (await res.json()) as { checks: Record<string, { status: string; error?: string }> } };
    };
    const count = async () => Number((await primary.query<{ n: string }>('select count(*) as n from audit.log_entries'))[0]!.n);

    // A client publishing at a steady rate the whole time, as the rest of the platform would.
    const publisher = ownersPublisher(jetstream(nc), { topology });
    const ids: string[] = [];
    publishing = true;
    load = (async () => {
      for (let i = 0; publishing; i++) {
        const { event } = await publisher.publish('BackupCreated', { resource: `db-${i % 5}`, data: aBackupCreatedData() });
        ids.push(event.id);
        await new Promise((resolve) => setTimeout(resolve, 1_000 / RATE_PER_S));
      }
    })();

    await pollUntil(async () => (await count()) >= 50, { timeoutMs: 20_000, what: 'the first 50 entries' });
    await primary.stop('immediate');
    const outageStarted = Date.now();

    // Not ready, naming PostgreSQL, while it is down; the consumers say they wait for it.
    const during = await pollUntil(
      async () => {
        const r = await ready();
        return r.status === 503 && r.body.checks.consumers?.status === 'down' ? r : null;
      },
      { timeoutMs: OUTAGE_MS - 2_000, what: '/health/ready to say the consumers wait for PostgreSQL' },
    );
    expect(during.body.checks.postgres!.status).toBe('down');
    expect(during.body.checks.consumers!.error).toMatch(/^waiting for postgres since /);

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, OUTAGE_MS - (Date.now() - outageStarted))));
    const publishedDuringOutage = ids.length;
    await primary.start();
    await pollUntil(async () => (await ready()).status === 200, { timeoutMs: 30_000, what: 'ready again after PostgreSQL returned' });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    publishing = false;
    await load;
    expect(ids.length).toBeGreaterThan(publishedDuringOutage);

    await pollUntil(async () => (await count()) >= ids.length, { timeoutMs: 60_000, what: `${ids.length} ledger entries` });
    const rows = await primary.query<{ log_index: string; event_id: string; envelope: unknown; leaf_hash: Buffer }>(
      'select log_index, event_id, envelope, leaf_hash from audit.log_entries order by log_index',
    );
    expect(rows.map((r) => r.event_id).sort()).toEqual([...ids].sort());
    expect(rows.every((r, i) => Number(r.log_index) === i)).toBe(true);
    expect(await readDeadLetters(nc, topology)).toEqual([]);

    const leaves = rows.map((r) => envelopeLeafHash(r.envelope));
    const res = await fetch(`http://127.0.0.1:${proc.port}/audit/tree-heads`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR}` } });
    const head = (await res.json()) as { treeSize: number; rootHash: string };
    expect(head).toMatchObject({ treeSize: ids.length, rootHash: rootFromLeafHashes(leaves).toString('hex') });
    expect(proc.output()).toMatch(/postgres is back after [\d.]+ s/);
  }, 150_000);
});
