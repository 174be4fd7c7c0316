import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { createTestDatabase, ServiceProcess, startServiceProcess } from '@continuity/runtime/testing';
import { AUDITOR } from './harness.js';

const script = join(__dirname, '..', '..', '..', 'examples', 'python', 'publish_backup_created.py');
const sha = (c: string) => c.repeat(64);

/** Runs the example as a user would; the built-in validator is the one every machine has. */
const runExample = (args: string[], env: Record<string, string>) => {
  const result = spawnSync('python3', [script, ...args], { encoding: 'utf8', env: { ...process.env, CONTINUITY_SCHEMA_VALIDATOR: 'builtin', ...env }, timeout: 30_000 });
  if (result.error) throw new Error(`python3 cannot run (${result.error.message}): the example needs Python 3.9 or later`);
  return result;
};

/**
 * Item 6 of issue 14: a publisher in another language, with only the JSON Schemas and the NATS
 * protocol, publishes an event the audit service accepts as valid and trusted.
 */
describe('examples/python: a BackupCreated from Python, accepted by the audit ledger', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let audit: ServiceProcess;
  const dir = mkdtempSync(join(tmpdir(), 'continuity-python-'));

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'py');
    db = await createTestDatabase('python');
    audit = await startServiceProcess('audit', {
      CONTINUITY_NAMESPACE: topology.namespace,
      DATABASE_URL: db.url,
      CONTINUITY_PUBLISHERS: 'billing=billing-archive',
      AUDIT_SIGNING_KEY_FILE: join(dir, 'audit.pem'),
    });
    await audit.waitForOutput('audit listening');
  }, 60_000);

  afterAll(async () => {
    await audit?.stop('SIGTERM');
    await topology?.remove();
    await db?.drop();
    await nc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses an event its schema rejects, before publishing; publishes a valid one, which the audit records and projects', async () => {
    const env = { NATS_URL: 'nats://127.0.0.1:4222', CONTINUITY_NAMESPACE: topology.namespace };
    const common = ['--source', 'billing', '--resource', 'billing-archive', '--method', 'restic'];
    const copies = ['vault-a,site-a,disk,file:///backups/a.tar,' + sha('a') + ',2048', 'vault-b,site-a,tape,file:///backups/b.tar,' + sha('a') + ',2048', 'vault-c,site-b,object,s3://bucket/c.tar,' + sha('a') + ',2048'].flatMap((c) => ['--copy', c]);

    const invalid = runExample([...common, '--size-bytes', '-1', '--sha256', 'not-a-hash', ...copies], env);
    expect(invalid.status).toBe(2);
    const refused = JSON.parse(invalid.stderr) as { published: boolean; validator: string; errors: string[] };
    expect(refused).toMatchObject({ published: false, validator: 'builtin' });
    expect(refused.errors).toEqual(expect.arrayContaining([expect.stringContaining('$.data.sizeBytes'), expect.stringContaining('$.data.sha256')]));

    const valid = runExample([...common, '--size-bytes', '2048', '--sha256', sha('a'), '--recovery-point', '2026-11-30T23:00:00.000Z', ...copies], env);
    expect(valid.stderr).toBe('');
    expect(valid.status).toBe(0);
    const published = JSON.parse(valid.stdout) as { published: boolean; subject: string; eventId: string; backupId: string; ack: { stream: string; seq: number } };
    expect(published).toMatchObject({ published: true, subject: `${topology.namespace}.events.BackupCreated.billing-archive`, ack: { stream: topology.eventStream } });

    const get = async (path: string) => (await fetch(`http://127.0.0.1:${audit.port}${path}`, { headers: { authorization: `Bearer ${AUDITOR}` } })).json() as Promise<any>;
    // Projected: valid for the registry and trusted for its source (untrusted entries stay out of the state).
    const state = await pollUntil(async () => {
      const body = await get('/audit/resources/billing-archive/state');
      return body.state?.lastBackup?.backupId === published.backupId ? body.state : null;
    }, { timeoutMs: 30_000, what: 'the audit to project the Python-published backup' });
    expect(state.lastBackup).toMatchObject({ recoveryPoint: '2026-11-30T23:00:00.000Z', sizeBytes: 2048, copies: 3 });
    // The refused one never reached the stream: the ledger holds exactly the valid backup. (Only
    // backups: the audit's own findings about the resource — its recovery point is hours old, an
    // RPO breach — may be recorded too, once its evaluation comes round.)
    const events = await get('/audit/events?resource=billing-archive&type=BackupCreated');
    expect(events.events.map((e: { eventId: string }) => e.eventId)).toEqual([published.eventId]);
  }, 90_000);
});
