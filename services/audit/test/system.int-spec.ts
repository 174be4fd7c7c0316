import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { bearer, createTestDatabase, ServiceProcess } from '@continuity/runtime/testing';
import { AUDITOR, startBackupVerifierAudit } from './harness.js';

/**
 * The whole chain as a user runs it, each service its own process: a backup asked for over HTTP is
 * verified by the verifier and lands in the audit ledger as a verified, 3-2-1-compliant recovery point.
 */
describe('system: backup → verifier → audit (real processes, NATS and PostgreSQL)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const processes: ServiceProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'continuity-system-'));

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'sys');
    db = await createTestDatabase('system');
    mkdirSync(join(dir, 'src', 'nested'), { recursive: true });
    writeFileSync(join(dir, 'src', 'a.txt'), 'alpha');
    writeFileSync(join(dir, 'src', 'nested', 'b.txt'), 'beta');
    const config = join(dir, 'continuity.yaml');
    writeFileSync(
      config,
      `resources:
  docs: { kind: directory, site: site-a, path: ${join(dir, 'src')} }
locations:
  disk-a: { kind: filesystem, site: site-a, medium: disk, path: ${join(dir, 'a')} }
  nas-a: { kind: filesystem, site: site-a, medium: nas, path: ${join(dir, 'b')} }
  disk-b: { kind: filesystem, site: site-b, medium: disk, path: ${join(dir, 'c')} }
policies:
  docs-hourly: { resource: docs, schedule: every 1h, copies: [disk-a, nas-a, disk-b], retention: { keepLast: 5 } }
`,
    );
    const env = { CONTINUITY_NAMESPACE: topology.namespace, DATABASE_URL: db.url, CONTINUITY_CONFIG: config };
    // The backup asked for over HTTP is the only one: no scheduled first slot at start.
    await startBackupVerifierAudit(processes, env, { AUDIT_SIGNING_KEY_FILE: join(dir, 'audit.pem'), AUDIT_SIGN_INTERVAL_MS: '250', AUDIT_EVALUATE_INTERVAL_MS: '0' });
  }, 90_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGTERM')));
    await topology?.remove();
    await db?.drop();
    await nc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes, verifies and records a backup, provably', async () => {
    const [backup, verifier, audit] = processes;
    const started = await fetch(`http://127.0.0.1:${backup!.port}/backups`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer('operator') },
      body: JSON.stringify({ resource: 'docs' }),
    });
    expect(started.status).toBe(202);
    const { backupId } = (await started.json()) as { backupId: string };

    const verification = await pollUntil(async () => {
      const res = await fetch(`http://127.0.0.1:${verifier!.port}/verifications?backupId=${backupId}`, { headers: bearer('viewer') });
      const body = (await res.json()) as { verifications: { status: string; verdict: string }[] };
      return body.verifications.find((v) => v.status === 'done');
    }, { timeoutMs: 30_000, what: 'the verifier’s verdict' });
    expect(verification.verdict).toBe('passed');

    const get = async (path: string) =>
      (await fetch(`http://127.0.0.1:${audit!.port}${path}`, { headers: { authorization: `Bearer ${AUDITOR}` } })).json() as Promise<any>;
    const state = await pollUntil(async () => {
      const body = await get('/audit/resources/docs/state');
      return body.state?.lastVerified?.backupId === backupId && body.consistency ? body : null;
    }, { timeoutMs: 30_000, what: 'the audit ledger to hold the verified backup under a signed head' });
    expect(state.state.lastVerified.threeTwoOne).toEqual({ copies: 3, media: 2, sites: 2, compliant: true });
    expect(state.state.counts).toMatchObject({ backupsTaken: 1, verificationsPassed: 1 });
    const events = await get('/audit/events?resource=docs');
    expect(events.events.map((e: { type: string }) => e.type)).toEqual(['BackupCreated', 'IntegrityVerified']);
    expect(events.events[1].envelope.causationId).toBe(events.events[0].eventId);
  }, 90_000);
});
