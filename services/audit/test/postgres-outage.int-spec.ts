import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { ContinuityPublisher } from '@continuity/contracts';
import { aBackupExpiredData, anIntegrityVerifiedData } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil, readDeadLetters } from '@continuity/messaging/testing';
import { createPgCluster, PgCluster, ServiceProcess, startServiceProcess } from '@continuity/runtime/testing';
import { envelopeLeafHash, rootFromLeafHashes } from '@continuity/contracts/ledger';
import { OPERATOR } from './harness.js';

/** Longer than the old retry budget (5 deliveries ≈ 7.5 s of back-off), after which events were dead-lettered. */
const OUTAGE_MS = 12_000;
const RATE_PER_S = 25;

/**
 * The services' own PostgreSQL stops while the platform keeps publishing. Every consumer that
 * writes to it must hold its events and finish them once it is back: the audit ledger (every
 * event), the backup catalogue (each IntegrityVerified recorded as a verdict) and the verifier's
 * (each BackupExpired recorded), with nothing dead-lettered.
 */
describe('through a PostgreSQL outage: audit, backup and verifier (real processes, their own PostgreSQL stopped and started)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let cluster: PgCluster;
  const procs: Record<'audit' | 'backup' | 'verifier', ServiceProcess | undefined> = { audit: undefined, backup: undefined, verifier: undefined };
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
    for (const proc of Object.values(procs)) await proc?.stop('SIGKILL');
    await topology?.remove();
    await cluster?.remove();
    await nc?.close();
  });

  it('records every event published before, during and after the outage, dead-letters none, and says it is not ready meanwhile', async () => {
    const primary = cluster.primary;
    const env = { DATABASE_URL: primary.url, CONTINUITY_NAMESPACE: topology.namespace };
    procs.audit = await startServiceProcess('audit', {
      ...env,
      AUDIT_SIGNING_KEY_FILE: join(tmpdir(), `continuity-audit-${topology.namespace}.pem`),
      AUDIT_SIGN_INTERVAL_MS: '3600000', // no checkpoint events: the log holds exactly the published events
      AUDIT_EVALUATE_INTERVAL_MS: '0', // nor SLO/risk findings of the service's own
    });
    procs.backup = await startServiceProcess('backup', { ...env, BACKUP_SCHEDULER: 'off' });
    procs.verifier = await startServiceProcess('verifier', env);
    for (const [name, proc] of Object.entries(procs)) await proc!.waitForOutput(`${name} listening`);
    const ready = async (proc: ServiceProcess) => {
      const res = await fetch(`http://127.0.0.1:${proc.port}/health/ready`, { signal: AbortSignal.timeout(5_000) });
      return { status: res.status, body: (await res.json()) as { checks: Record<string, { status: string; error?: string }> } };
    };
    const count = async (sql: string) => Number((await primary.query<{ n: string }>(sql))[0]!.n);

    // The rest of the platform, publishing at a steady rate the whole time: verdicts (the backup
    // service records each) and expiries (the verifier records each), all of them in the ledger.
    const verdicts = new ContinuityPublisher(jetstream(nc), { source: 'verifier', topology });
    const expiries = new ContinuityPublisher(jetstream(nc), { source: 'backup', topology });
    const ids: string[] = [];
    const verdictBackups = new Set<string>();
    const expiredBackups = new Set<string>();
    publishing = true;
    load = (async () => {
      for (let i = 0; publishing; i++) {
        const resource = `db-${i % 5}`;
        if (i % 2 === 0) {
          const data = anIntegrityVerifiedData();
          ids.push((await verdicts.publish('IntegrityVerified', { resource, data })).event.id);
          verdictBackups.add(data.backupId);
        } else {
          const data = aBackupExpiredData();
          ids.push((await expiries.publish('BackupExpired', { resource, data })).event.id);
          expiredBackups.add(data.backupId);
        }
        await new Promise((resolve) => setTimeout(resolve, 1_000 / RATE_PER_S));
      }
    })();

    await pollUntil(async () => (await count('select count(*) as n from audit.log_entries')) >= 50, { timeoutMs: 20_000, what: 'the first 50 entries' });
    await primary.stop('immediate');
    const outageStarted = Date.now();

    // Not ready, naming PostgreSQL, while it is down; each service's consumers say they wait for it.
    for (const proc of Object.values(procs)) {
      const during = await pollUntil(
        async () => {
          const r = await ready(proc!);
          return r.status === 503 && r.body.checks.consumers?.status === 'down' ? r : null;
        },
        { timeoutMs: OUTAGE_MS - 2_000, what: '/health/ready to say the consumers wait for PostgreSQL' },
      );
      expect(during.body.checks.postgres!.status).toBe('down');
      expect(during.body.checks.consumers!.error).toMatch(/^waiting for postgres since /);
    }

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, OUTAGE_MS - (Date.now() - outageStarted))));
    const publishedDuringOutage = ids.length;
    await primary.start();
    for (const proc of Object.values(procs)) {
      await pollUntil(async () => (await ready(proc!)).status === 200, { timeoutMs: 30_000, what: 'ready again after PostgreSQL returned' });
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    publishing = false;
    await load;
    expect(ids.length).toBeGreaterThan(publishedDuringOutage);

    await pollUntil(async () => (await count('select count(*) as n from audit.log_entries')) >= ids.length, { timeoutMs: 60_000, what: `${ids.length} ledger entries` });
    await pollUntil(async () => (await count('select count(*) as n from backup.verdicts')) >= verdictBackups.size, { timeoutMs: 30_000, what: 'every verdict in the backup catalogue' });
    await pollUntil(async () => (await count('select count(*) as n from verifier.backups where expired_at is not null')) >= expiredBackups.size, {
      timeoutMs: 30_000,
      what: "every expiry in the verifier's catalogue",
    });
    const verdictRows = await primary.query<{ backup_id: string }>('select backup_id::text from backup.verdicts');
    expect(new Set(verdictRows.map((r) => r.backup_id))).toEqual(verdictBackups);
    const expiredRows = await primary.query<{ backup_id: string }>('select backup_id::text from verifier.backups where expired_at is not null');
    expect(new Set(expiredRows.map((r) => r.backup_id))).toEqual(expiredBackups);

    const rows = await primary.query<{ log_index: string; event_id: string; envelope: unknown }>('select log_index, event_id, envelope from audit.log_entries order by log_index');
    expect(rows.map((r) => r.event_id).sort()).toEqual([...ids].sort());
    expect(rows.every((r, i) => Number(r.log_index) === i)).toBe(true);
    expect(await readDeadLetters(nc, topology)).toEqual([]);

    const leaves = rows.map((r) => envelopeLeafHash(r.envelope));
    const res = await fetch(`http://127.0.0.1:${procs.audit!.port}/audit/tree-heads`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR}` } });
    const head = (await res.json()) as { treeSize: number; rootHash: string };
    expect(head).toMatchObject({ treeSize: ids.length, rootHash: rootFromLeafHashes(leaves).toString('hex') });
    for (const proc of Object.values(procs)) expect(proc!.output()).toMatch(/postgres is back after [\d.]+ s/);
  }, 180_000);
});
