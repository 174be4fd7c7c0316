import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ContinuityPublisher } from '@continuity/contracts';
import { anEvent } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { bearer, callAsStrangers, createTestDatabase, MutatingRoute, refusedToStrangers } from '@continuity/runtime/testing';
import { startAudit } from './harness.js';

/** Whoever holds no operator token cannot sign heads, re-check or rebuild; viewers cannot read the ledger. */
describe('audit HTTP access (real NATS and PostgreSQL)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let audit: Awaited<ReturnType<typeof startAudit>>;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'auda');
    db = await createTestDatabase('audit');
    // Heads are signed only when asked: the test sees whether a refused request signed one.
    audit = await startAudit(db.url, topology.namespace, {
      AUDIT_SIGN_INTERVAL_MS: '3600000',
      AUDIT_SIGNING_KEY_FILE: join(tmpdir(), `continuity-audit-${topology.namespace}-access.pem`),
    });
  });
  afterAll(async () => {
    await audit?.app.close();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
  });

  it('refuses every mutating route to an anonymous caller, a viewer and an auditor, and signs no head', async () => {
    await new ContinuityPublisher(jetstream(nc), { source: 'test', topology }).publishEnvelope(anEvent('BackupCreated'));
    await pollUntil(async () => (await audit.get('/audit/events')).body?.events?.length === 1, { what: 'the event in the ledger' });

    const routes: MutatingRoute[] = [
      { method: 'POST', path: '/audit/tree-heads' },
      { method: 'POST', path: '/audit/integrity/check' },
      { method: 'POST', path: '/audit/projections/rebuild?apply=true' },
      { method: 'POST', path: '/dlq/1/replay' },
    ];
    expect(await callAsStrangers(audit.base, routes)).toEqual(refusedToStrangers(routes));
    expect((await audit.get('/audit/tree-heads')).body).toEqual({ heads: [], next: null });

    // Viewers read the other services, not the ledger; the public key is open to anyone.
    expect(await audit.get('/audit/events', null)).toMatchObject({ status: 401, body: { code: 'AUTH.TOKEN_MISSING' } });
    expect((await fetch(`${audit.base}/audit/events`, { headers: bearer('viewer') })).status).toBe(403);
    expect((await audit.get('/audit/public-key', null)).status).toBe(200);

    // The operator signs.
    expect(await audit.post('/audit/tree-heads')).toMatchObject({ status: 201, body: { treeSize: 1 } });
  });
});
