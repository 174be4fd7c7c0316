import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

const CLI = join(__dirname, '..', 'bin', 'continuity-audit.js');
const KEY_CHANGED_LOG = /audit signing key changed/g;

/**
 * Several audit processes on one database and one topology, each with a key file of its own: one
 * writes at a time, a standby takes over within seconds of a SIGKILL, nothing is lost or doubled,
 * and no instance mistakes another's heads for tampering. A new key (another installation, a lost
 * key file) is reported once and old heads keep verifying, in the service and offline.
 */
describe('audit: many instances, many keys, one ledger (real processes, NATS and PostgreSQL)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let sql: Client;
  const processes: ServiceProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'continuity-audit-ha-'));
  const keyFile = (name: string) => join(dir, `${name}.pem`);

  const start = async (instance: string, env: Record<string, string> = {}) => {
    const proc = await startServiceProcess('audit', {
      DATABASE_URL: db.url,
      CONTINUITY_NAMESPACE: topology.namespace,
      AUDIT_INSTANCE_ID: instance,
      AUDIT_SIGNING_KEY_FILE: keyFile(instance),
      AUDIT_SIGN_INTERVAL_MS: '300',
      AUDIT_EVALUATE_INTERVAL_MS: '0', // no SLO/risk findings of the service's own in the log
      AUDIT_TAMPER_CHECK_INTERVAL_MS: '1000',
      AUDIT_WRITER_LEASE_POLL_MS: '500',
      AUDIT_TOKENS: `${OPERATOR}:operator`,
      // Messages a killed process held come back after ack_wait; keep the test short.
      JETSTREAM_ACK_WAIT_MS: '2000',
      ...env,
    });
    processes.push(proc);
    await proc.waitForOutput('audit listening');
    return proc;
  };
  const call = async (proc: ServiceProcess, path: string, method = 'GET') => {
    const res = await fetch(`http://127.0.0.1:${proc.port}${path}`, { method, headers: { authorization: `Bearer ${OPERATOR}` } });
    return { status: res.status, body: (await res.json()) as any };
  };
  const integrity = async (proc: ServiceProcess) => (await call(proc, '/audit/integrity')).body;
  const check = async (proc: ServiceProcess) => (await call(proc, '/audit/integrity/check', 'POST')).body;
  const ready = async (proc: ServiceProcess) => (await call(proc, '/health/ready')).status;
  const count = async (where = 'true') => Number((await sql.query(`select count(*) from audit.log_entries where ${where}`)).rows[0].count);
  const keyChanges = () => count(`type = 'AuditSigningKeyChanged'`);
  const inboxRows = async () => Number((await sql.query('select count(*) from audit.ledger_inbox')).rows[0].count);
  const verifyOffline = (...args: string[]) => spawnSync(process.execPath, [CLI, 'verify', ...args], { encoding: 'utf8' });

  /** Publishes one event every few milliseconds until stopped; returns the ids published. */
  const publishSteadily = () => {
    const publisher = ownersPublisher(jetstream(nc), { topology });
    const ids: string[] = [];
    let running = true;
    const done = (async () => {
      for (let i = 0; running; i++) {
        ids.push((await publisher.publish('BackupCreated', { resource: `db-${i % 7}`, data: aBackupCreatedData() })).event.id);
        await new Promise((resolve) => setTimeout(resolve, 5)); // pacing, not an assertion
      }
    })();
    return {
      ids,
      stop: async () => {
        running = false;
        await done;
        return ids;
      },
    };
  };

  /** Every entry once, indices 0…n-1, each leaf recomputed from its envelope; returns the leaves. */
  const expectWholeLedger = async (eventIds: Iterable<string>) => {
    const { rows } = await sql.query('select log_index, event_id, type, envelope, leaf_hash from audit.log_entries order by log_index');
    const expected = new Set(eventIds);
    expect(rows.filter((r) => r.type !== 'AuditSigningKeyChanged').map((r) => r.event_id).sort()).toEqual([...expected].sort());
    expect(rows.every((r, i) => Number(r.log_index) === i)).toBe(true);
    const leaves = rows.map((r) => envelopeLeafHash(r.envelope));
    expect(rows.every((r, i) => (r.leaf_hash as Buffer).equals(leaves[i]!))).toBe(true);
    expect(await inboxRows()).toBe(0);
    return leaves;
  };

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'ha');
    db = await createTestDatabase('audit');
    sql = new Client({ connectionString: db.url });
    await sql.connect();
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    await sql?.end();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let a: ServiceProcess;
  let b: ServiceProcess;
  let published: string[] = [];

  it('two instances with different keys: one writes, the other stands by; no event lost or doubled, no tamper finding, both ready', async () => {
    a = await start('a');
    await pollUntil(async () => (await integrity(a)).ledgerWriter?.role === 'writer', { what: 'a to be the writer' });
    b = await start('b');
    const load = publishSteadily();

    // The standby gets its share of the durable consumer's messages and hands them to the writer.
    await pollUntil(async () => (await inboxRows()) > 0, {
      timeoutMs: 30_000,
      intervalMs: 5,
      what: 'b handing events over through the inbox',
    });
    await pollUntil(async () => (await count()) >= 200, { timeoutMs: 30_000, what: '200 entries' });
    // Both name the same writer; exactly one of them is it.
    const [ia, ib] = await Promise.all([integrity(a), integrity(b)]);
    expect(ia.ledgerWriter).toEqual({ instance: 'a', role: 'writer', writer: 'a' });
    expect(ib.ledgerWriter).toEqual({ instance: 'b', role: 'standby', writer: 'a' });
    expect((await call(b, '/health/ready')).body.checks['ledger-writer']).toMatchObject({ status: 'up', role: 'standby', writer: 'a' });

    // Both keys are in the ledger's history; b's arrival is reported once, by b.
    const [{ body: keys }, { body: aKey }, { body: bKey }] = await Promise.all([call(a, '/audit/public-keys'), call(a, '/audit/public-key'), call(b, '/audit/public-key')]);
    expect(keys.keys.map((k: any) => k.keyId).sort()).toEqual([aKey.keyId, bKey.keyId].sort());
    expect(keys.keys.find((k: any) => k.keyId === bKey.keyId)).toMatchObject({ previousKeyId: aKey.keyId, attestation: null });
    expect(await keyChanges()).toBe(1);
    expect(b.output().match(KEY_CHANGED_LOG)).toHaveLength(1);
    expect(a.output().match(KEY_CHANGED_LOG)).toBeNull();

    // Checks on both, while events flow and a signs: no finding about each other.
    for (const proc of [a, b]) {
      const report = await check(proc);
      expect(report).toMatchObject({ intact: true, findings: [] });
      expect(report.headsChecked).toBeGreaterThan(0);
      expect(await ready(proc)).toBe(200);
    }

    published = await load.stop();
    await pollUntil(async () => (await count()) === published.length + 1, { timeoutMs: 30_000, what: `${published.length + 1} entries` });
    const leaves = await expectWholeLedger(published);
    const head = await pollUntil(async () => {
      const latest = (await call(a, '/audit/tree-heads/latest')).body;
      return latest?.treeSize === leaves.length ? latest : null;
    }, { what: 'a head over every entry' });
    expect(head.rootHash).toBe(rootFromLeafHashes(leaves).toString('hex'));
    // Only the writer signed.
    expect((await sql.query('select distinct key_id from audit.tree_heads')).rows.map((r) => r.key_id)).toEqual([(await call(a, '/audit/public-key')).body.keyId]);
  }, 120_000);

  it('SIGKILL of the writer: the standby writes within seconds, nothing is lost, and its heads verify beside the old ones', async () => {
    const load = publishSteadily();
    await pollUntil(async () => (await count()) >= published.length + 1 + 100, { timeoutMs: 30_000, what: '100 more entries' });
    const atKill = await count();
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await a.exited;
    await pollUntil(async () => (await integrity(b)).ledgerWriter?.role === 'writer' && (await count()) > atKill, {
      timeoutMs: 15_000,
      intervalMs: 20,
      what: 'b to take over and append',
    });
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(10_000);

    const more = await load.stop();
    published = [...published, ...more];
    // What a held unacked comes back after ack_wait; what b handed over waits in the inbox no more.
    await pollUntil(async () => (await count()) === published.length + 1, { timeoutMs: 30_000, what: `${published.length + 1} entries after the kill` });
    const leaves = await expectWholeLedger(published);
    const head = (await call(b, '/audit/tree-heads', 'POST')).body;
    expect(head).toMatchObject({ treeSize: leaves.length, rootHash: rootFromLeafHashes(leaves).toString('hex') });
    expect(Number((await sql.query('select count(distinct key_id) from audit.tree_heads')).rows[0].count)).toBe(2);
    expect(await check(b)).toMatchObject({ intact: true, findings: [], keysKnown: 2 });
    expect(await ready(b)).toBe(200);
    expect((await integrity(b)).ledgerWriter).toEqual({ instance: 'b', role: 'writer', writer: 'b' });
    console.log(`audit writer takeover after SIGKILL: ${takeoverMs} ms`);
  }, 120_000);

  let c: ServiceProcess;

  it('a fresh installation with a new key against the existing ledger is ready, reports the key once, and old heads verify in the service and offline', async () => {
    await b.stop('SIGTERM');
    const changesBefore = await keyChanges();
    c = await start('c');
    await pollUntil(async () => (await integrity(c)).ledgerWriter?.role === 'writer', { what: 'c to be the writer' });
    await pollUntil(async () => (await keyChanges()) === changesBefore + 1, { what: 'the key change in the ledger' });
    expect(c.output().match(KEY_CHANGED_LOG)).toHaveLength(1);
    expect(c.output()).toContain('unattested');
    await pollUntil(async () => (await ready(c)) === 200, { what: 'c ready' });
    // Never a permanent 503: periodic checks stay clean too.
    const report = await check(c);
    expect(report).toMatchObject({ intact: true, findings: [], keysKnown: 3 });

    const { rows: [event] } = await sql.query(`select envelope from audit.log_entries where type = 'AuditSigningKeyChanged' order by log_index desc limit 1`);
    const { body: bKey } = await call(b, '/audit/public-key').catch(() => ({ body: null }));
    expect(bKey).toBeNull(); // b is gone: its key lives on only in the ledger
    const { body: keys } = await call(c, '/audit/public-keys');
    const cKey = keys.keys.find((k: any) => k.keyId === keys.currentKeyId);
    expect(event.envelope.data).toEqual({ keyId: cKey.keyId, publicKeyPem: cKey.publicKeyPem, previousKeyId: cKey.previousKeyId, treeSize: cKey.introducedAtTreeSize, attestation: null });
    expect(keys.keys.map((k: any) => k.keyId)).toContain(cKey.previousKeyId);

    // A restart with the same key reports nothing new.
    await c.stop('SIGTERM');
    c = await start('c');
    await pollUntil(async () => (await integrity(c)).ledgerWriter?.role === 'writer', { what: 'c to be the writer again' });
    expect(c.output().match(KEY_CHANGED_LOG)).toBeNull();
    expect(await keyChanges()).toBe(changesBefore + 1);

    // Offline: an export whose heads were signed by a, b and c, checked with the three keys obtained separately.
    await pollUntil(async () => (await call(c, '/audit/tree-heads/latest')).body.keyId === cKey.keyId, { what: 'a head signed by c' });
    const { body: exported } = await call(c, '/audit/export');
    expect(new Set(exported.signedHeads.map((h: any) => h.keyId)).size).toBe(3);
    const keysFile = join(dir, 'ledger-keys.pem');
    writeFileSync(keysFile, keys.keys.map((k: any) => k.publicKeyPem).join(''));
    const exportFile = join(dir, 'export.json');
    writeFileSync(exportFile, JSON.stringify(exported));
    const run = verifyOffline('--export', exportFile, '--public-key', keysFile);
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain(`✓ signature of tree head ${exported.signedHead.treeSize}`);
    expect(run.stdout).toMatch(/✓ \d+ earlier signed heads verify, each with the key it names/);
    expect(run.stdout).toContain('unattested (confirm it out of band)');
    expect(run.stdout).toContain(`✓ root recomputed from ${exported.signedHead.treeSize} exported entries equals the signed root`);
    expect(run.status).toBe(0);

    // With a's key alone, b's and c's heads are not trusted: nothing attested them.
    const aOnly = join(dir, 'a-key.pem');
    writeFileSync(aOnly, keys.keys.find((k: any) => k.previousKeyId === null).publicKeyPem);
    const partial = verifyOffline('--export', exportFile, '--public-key', aOnly);
    expect(partial.stdout).toContain('does NOT verify');
    expect(partial.status).toBe(1);
  }, 120_000);

  it('a planned rotation with the previous key at hand is attested, and the verifier trusts the new key through it', async () => {
    await c.stop('SIGTERM');
    const d = await start('d', { AUDIT_PREVIOUS_SIGNING_KEY_FILE: keyFile('c') });
    await pollUntil(async () => (await call(d, '/audit/tree-heads/latest')).body.keyId === (await call(d, '/audit/public-key')).body.keyId, {
      what: 'a head signed by d',
    });
    expect(d.output()).toContain('attested: the previous key signed the new one');
    const { body: keys } = await call(d, '/audit/public-keys');
    const dKey = keys.keys.find((k: any) => k.keyId === keys.currentKeyId);
    expect(dKey.attestation).toEqual(expect.any(String));

    // Trusting a, b and c (obtained before) is enough: c vouches for d.
    const { body: exported } = await call(d, '/audit/export');
    const exportFile = join(dir, 'export-d.json');
    writeFileSync(exportFile, JSON.stringify(exported));
    const run = verifyOffline('--export', exportFile, '--public-key', join(dir, 'ledger-keys.pem'));
    expect(run.stdout).toContain(`key ${dKey.keyId.slice(0, 16)}… is trusted`);
    expect(run.status).toBe(0);
    expect(await check(d)).toMatchObject({ intact: true, keysKnown: 4 });
    c = d;
  }, 60_000);

  it('a head whose key id is switched to another known key is a tamper finding', async () => {
    const { rows: [victim] } = await sql.query('select tree_size, key_id from audit.tree_heads order by tree_size limit 1');
    const { rows: [other] } = await sql.query('select key_id from audit.signing_keys where key_id <> $1 limit 1', [victim.key_id]);
    // Behind the service's back: replica mode skips the append-only trigger, as a superuser could.
    await sql.query('set session_replication_role = replica');
    await sql.query('update audit.tree_heads set key_id = $1 where tree_size = $2', [other.key_id, victim.tree_size]);
    await sql.query('set session_replication_role = origin');

    const report = await check(c);
    expect(report.intact).toBe(false);
    // The stored head no longer matches its announcement on the stream either.
    expect(report.findings).toEqual([
      expect.objectContaining({ kind: 'bad-signature', treeSize: Number(victim.tree_size) }),
      expect.objectContaining({ kind: 'announcement-differs', treeSize: Number(victim.tree_size) }),
    ]);
    expect(await ready(c)).toBe(503);
  }, 60_000);
});
