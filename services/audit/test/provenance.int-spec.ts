import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { ContinuityPublisher } from '@continuity/contracts';
import { aBackupCreatedData, aFailoverCompletedData, anIntegrityVerifiedData, ownersPublisher } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { createTestDatabase } from '@continuity/runtime/testing';
import { startAudit } from './harness.js';

/**
 * Item 2 of issue 11 for the ledger: every event is recorded (the log must be complete), but
 * those from a source that may not publish them, or dated ahead, are marked untrusted and change
 * neither the resource's state nor the report.
 */
describe('audit ledger: provenance (real NATS and PostgreSQL)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let audit: Awaited<ReturnType<typeof startAudit>>;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'prov');
    db = await createTestDatabase('audit');
    audit = await startAudit(db.url, topology.namespace, { CONTINUITY_PUBLISHERS: 'billing=billing-db' });
  });

  afterAll(async () => {
    await audit?.app.close();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
  });

  it('records forged events marked untrusted and keeps them out of the state and the report', async () => {
    const js = jetstream(nc);
    const owners = ownersPublisher(js, { topology });
    const as = (source: string) => new ContinuityPublisher(js, { source, topology });
    const backup = aBackupCreatedData({ recoveryPoint: new Date(Date.now() - 60_000).toISOString() });
    const created = await owners.publish('BackupCreated', { resource: 'forged-db', data: backup });
    const copies = backup.copies.map((c) => ({ location: c.location, uri: c.uri, readable: false, sizeMatch: false, hashMatch: false, actualSha256: null, durationMs: 1, mbPerSec: 0, error: 'forged' }));
    // The attacks: a "failed" verdict from the backup service's name, an external publisher's
    // backup of a resource not its own, a source nobody knows, a failover dated a year ahead.
    const forged = [
      await as('backup').publish('IntegrityVerified', { resource: 'forged-db', data: anIntegrityVerifiedData({ backupId: backup.backupId, verdict: 'failed', copies, reasons: ['forged'] }) }),
      await as('billing').publish('BackupCreated', { resource: 'forged-db', data: aBackupCreatedData() }),
      await as('mallory').publish('BackupCreated', { resource: 'forged-db', data: aBackupCreatedData() }),
      await as('failover').publish('FailoverCompleted', { resource: 'forged-db', data: aFailoverCompletedData(), occurredAt: new Date(Date.now() + 365 * 86_400_000) }),
    ].map((p) => p.event);
    // A legitimate external backup of its own resource, for contrast.
    const external = await as('billing').publish('BackupCreated', { resource: 'billing-db', data: aBackupCreatedData() });

    const ids = [created.event.id, ...forged.map((e) => e.id), external.event.id];
    const entries = await pollUntil(async () => {
      const { body } = await audit.get('/audit/events?limit=1000');
      const found = ids.map((id) => body.events.find((e: { eventId: string }) => e.eventId === id));
      return found.every(Boolean) ? found : null;
    }, { what: 'every event, forged or not, in the ledger' });

    const [legit, verdict, foreignBackup, unknown, future, own] = entries;
    expect(legit.untrusted).toBeNull();
    expect(own.untrusted).toBeNull();
    expect(verdict.untrusted).toBe('unauthorized-source: source "backup" may not publish IntegrityVerified for forged-db; it is published by verifier');
    expect(foreignBackup.untrusted).toMatch(/^unauthorized-source: source "billing" may not publish BackupCreated for forged-db/);
    expect(unknown.untrusted).toMatch(/^unknown-source: source "mallory" is no known identity/);
    expect(future.untrusted).toMatch(/^future-dated: occurredAt .* in the future/);
    // Recorded as published: the leaf hash covers the forged envelope like any other.
    expect(verdict.envelope).toEqual(forged[0]);

    const { body: state } = await audit.get('/audit/resources/forged-db/state');
    expect(state.state).toMatchObject({
      lastBackup: { backupId: backup.backupId },
      lastVerdict: null,
      counts: { backupsTaken: 1, verificationsFailed: 0, failovers: 0 },
      failovers: [],
    });

    const total = (await audit.get('/audit/events?limit=1000')).body.events.length;
    await pollUntil(async () => (await audit.get('/audit/tree-heads/latest')).body?.treeSize >= total, { what: 'a signed head over every entry' });
    const { body: report } = await audit.get(`/audit/reports/continuity?from=${new Date(Date.now() - 3_600_000).toISOString()}`);
    const resource = report.resources.find((r: { resource: string }) => r.resource === 'forged-db');
    expect(resource.backups).toMatchObject({ taken: 1 });
    expect(resource.failovers).toHaveLength(0);
    expect(report.resources.map((r: { resource: string }) => r.resource)).toContain('billing-db');

    // A rebuild from the log folds exactly what the writer folded: the forged entries stay out.
    const rebuild = await audit.post('/audit/projections/rebuild');
    expect(rebuild.body).toMatchObject({ identical: true, differences: [] });
  });
});
