import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Client } from 'pg';
import { ContinuityPublisher } from '@continuity/contracts';
import { testRunId } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil, readStream } from '@continuity/messaging/testing';
import { bearer, createTestDatabase, ServiceProcess, startServiceProcess, TEST_DATABASE_URL } from '@continuity/runtime/testing';
import { databasesLike, dropRole, pgDump, publishExternalBackup, seedDatabase, testRestoreRole, TEST_PUBLISHERS } from './harness.js';

/**
 * The verifier process is SIGKILLed in the middle of a restore test (its scratch database exists,
 * an assertion is running in it). After a restart: the leftover scratch database is dropped before
 * anything else, the redelivered BackupCreated is verified again, and exactly one verdict exists.
 */
describe('verifier killed mid-restore-test and restarted (real process, NATS, PostgreSQL)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let source: Awaited<ReturnType<typeof createTestDatabase>>;
  let root: string;
  let proc: ServiceProcess | undefined;
  /** Every process this file started: none may outlive it, whatever failed. */
  const started: ServiceProcess[] = [];
  const killAll = async () => {
    for (const p of started.splice(0)) await p.stop('SIGKILL');
  };
  const prefix = `continuity_verify_${testRunId('k')}_`;
  const restoreRole = testRestoreRole();

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'vkill');
    db = await createTestDatabase('verifier');
    source = await createTestDatabase('verifier_src');
    await seedDatabase(source.url);
    root = mkdtempSync(join(tmpdir(), 'continuity-verifier-crash-'));
    writeFileSync(
      join(root, 'verifier.yaml'),
      `resources:\n  orders-db:\n    assertions:\n      - { name: slow check, sql: "select pg_sleep(1.5) is not null" }\n`,
    );
  });

  beforeEach(killAll); // a failed test must not leave a verifier competing with the next one

  afterAll(async () => {
    await killAll();
    // A failed run may have killed a verifier mid-test: drop this run's scratch databases whatever happened.
    const admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    for (const name of await databasesLike(prefix)) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
    await topology?.remove();
    await db?.drop();
    await source?.drop();
    await dropRole(restoreRole);
    await nc?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const start = async () => {
    const p = await startServiceProcess('verifier', {
      DATABASE_URL: db.url,
      CONTINUITY_NAMESPACE: topology.namespace,
      VERIFIER_CONFIG: join(root, 'verifier.yaml'),
      VERIFIER_SCRATCH_PREFIX: prefix,
      VERIFIER_SCRATCH_DIR: join(root, 'scratch'),
      VERIFIER_RESTORE_ROLE: restoreRole,
      CONTINUITY_PUBLISHERS: TEST_PUBLISHERS,
      VERIFIER_FILE_ROOTS: root,
      VERIFIER_SCRUB: 'off',
      JETSTREAM_ACK_WAIT_MS: '2000', // the killed process's message comes back quickly
    });
    started.push(p);
    await p.waitForOutput(`verifier listening on http://127.0.0.1:${p.port}`);
    return p;
  };

  const verdictsOf = async (backupId: string) =>
    (await readStream(nc, topology.eventStream))
      .map((m) => m.json<{ type: string; data: { backupId: string; verdict: string } }>())
      .filter((e) => e.type === 'IntegrityVerified' && e.data.backupId === backupId);

  /** A query running in one of this run's scratch databases right now. */
  const runningInScratch = async (pattern: string) => {
    const c = new Client({ connectionString: TEST_DATABASE_URL });
    await c.connect();
    try {
      const { rows } = await c.query(`SELECT datname FROM pg_stat_activity WHERE starts_with(datname, $1) AND query LIKE $2`, [prefix, pattern]);
      return rows.length > 0;
    } finally {
      await c.end();
    }
  };

  it('leaves no scratch database behind and verifies the backup exactly once', async () => {
    proc = await start();
    const publisher = new ContinuityPublisher(jetstream(nc), { source: 'billing', topology });
    const { data } = await publishExternalBackup(
      { root, nc, publisher, bucket: () => { throw new Error('no buckets here'); } },
      { resource: 'orders-db', resourceKind: 'postgres', method: 'pg_dump-custom', artifact: await pgDump(source.url), copies: [{ location: 'disk-a', kind: 'file' }, { location: 'disk-b', kind: 'file' }] },
    );

    await pollUntil(() => runningInScratch('%pg_sleep%'), { timeoutMs: 20_000, intervalMs: 20, what: 'the restore test to be running its assertion' });
    proc.child.kill('SIGKILL');
    await proc.exited;
    const left = await databasesLike(prefix);
    expect(left).toHaveLength(1); // what the killed process left

    proc = await start();
    // Swept before the service listened, so before it handled anything.
    expect(await databasesLike(prefix)).not.toContain(left[0]);

    const verdict = await pollUntil(
      async () => {
        const found = (await readStream(nc, topology.eventStream))
          .map((m) => m.json<{ type: string; data: { backupId: string; verdict: string } }>())
          .filter((e) => e.type === 'IntegrityVerified' && e.data.backupId === data.backupId);
        return found.length ? found : null;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'the verdict after the restart' },
    );
    expect(verdict.map((e) => e.data.verdict)).toEqual(['passed']);
    await pollUntil(async () => (await databasesLike(prefix)).length === 0, { what: 'the second run\'s scratch database to be dropped' });
    const info = await (await jetstream(nc).consumers.get(topology.eventStream, 'verifier_BackupCreated')).info();
    expect(info.num_ack_pending + info.num_pending).toBe(0);
    const { verifications } = (await (await fetch(`http://127.0.0.1:${proc.port}/verifications?backupId=${data.backupId}`, { headers: bearer('viewer') })).json()) as { verifications: { attempts: number; status: string }[] };
    expect(verifications).toEqual([expect.objectContaining({ status: 'done', attempts: 2 })]);
    expect(readdirSync(root).includes('scratch') ? readdirSync(join(root, 'scratch')) : []).toEqual([]);
    expect(await proc.stop('SIGTERM')).toBe(0);
  }, 60_000);

  it('on SIGTERM mid-restore-test: drops its scratch database, publishes nothing, exits 0; verifies once after the restart', async () => {
    proc = await start();
    const publisher = new ContinuityPublisher(jetstream(nc), { source: 'billing', topology });
    const { data } = await publishExternalBackup(
      { root, nc, publisher, bucket: () => { throw new Error('no buckets here'); } },
      { resource: 'orders-db', resourceKind: 'postgres', method: 'pg_dump-custom', artifact: await pgDump(source.url), copies: [{ location: 'disk-a', kind: 'file' }] },
    );
    await pollUntil(() => runningInScratch('%pg_sleep%'), { timeoutMs: 20_000, intervalMs: 20, what: 'the restore test to be running its assertion' });
    const stopping = Date.now();
    expect(await proc.stop('SIGTERM')).toBe(0);
    expect(Date.now() - stopping).toBeLessThan(10_000);
    expect(proc.output()).toContain('SIGTERM: finishing in-flight messages');
    expect(await databasesLike(prefix)).toEqual([]); // dropped on the way out, not left for the next start
    expect(await verdictsOf(data.backupId)).toEqual([]);

    proc = await start();
    await pollUntil(async () => ((await verdictsOf(data.backupId)).length ? true : null), { timeoutMs: 30_000, intervalMs: 100, what: 'the verdict after the restart' });
    expect((await verdictsOf(data.backupId)).map((e) => e.data.verdict)).toEqual(['passed']);
  }, 60_000);
});
