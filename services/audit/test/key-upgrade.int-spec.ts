import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { ContinuityPublisher } from '@continuity/contracts';
import { aBackupCreatedData, anEvent, ownersPublisher } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { createTestDatabase } from '@continuity/runtime/testing';
import { AuditLedger1764150000000 } from '../src/database/1764150000000-audit-ledger.migration.js';
import { AuditorViews1764160000000 } from '../src/database/1764160000000-auditor-views.migration.js';
import { appendLeaf, EMPTY_FRONTIER, frontierRoot } from '../src/ledger/frontier.js';
import { envelopeLeafHash, keyIdOf, signTreeHead } from '@continuity/contracts/ledger';
import { runCli } from '../src/verification/cli.js';
import { OPERATOR, startAudit } from './harness.js';

const LEGACY_SIZE = 736;

/**
 * The upgrade the issue reported: a ledger written before the key history, its key file lost, and
 * a fresh installation (new key) started against it. Today that stayed "not ready" for good.
 */
describe('audit: a ledger from before the key history, its key lost (real NATS and PostgreSQL)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let sql: Client;
  let audit: Awaited<ReturnType<typeof startAudit>> | undefined;
  const lostKey = generateKeyPairSync('ed25519').privateKey;
  const lostKeyId = keyIdOf(createPublicKey(lostKey));
  const dir = mkdtempSync(join(tmpdir(), 'continuity-audit-upgrade-'));

  /** What the previous version left: entries, their Merkle nodes, one head signed by a key it never stored. */
  const writePreHistoryLedger = async () => {
    const old = new DataSource({ type: 'postgres', url: db.url, migrations: [AuditLedger1764150000000, AuditorViews1764160000000], migrationsTableName: 'audit_migrations' });
    await old.initialize();
    await old.runMigrations();
    await old.destroy();
    let frontier = EMPTY_FRONTIER;
    const entries: unknown[] = [];
    const nodes: { l: number; i: number; h: string }[] = [];
    for (let i = 0; i < LEGACY_SIZE; i++) {
      const envelope = anEvent('BackupCreated', { resource: `db-${i % 5}` });
      const leaf = envelopeLeafHash(envelope);
      const appended = appendLeaf(frontier, leaf);
      frontier = appended.frontier;
      for (const n of appended.completed) nodes.push({ l: Math.round(Math.log2(n.size)), i: n.start / n.size, h: n.hash.toString('hex') });
      entries.push({ i, id: envelope.id, t: envelope.type, r: envelope.resource, o: envelope.occurredAt, e: envelope, h: leaf.toString('hex') });
    }
    await sql.query(
      `insert into audit.log_entries (log_index, event_id, type, resource, occurred_at, recorded_at, stream_seq, envelope, leaf_hash)
       select x.i, x.id, x.t, x.r, x.o, now(), x.i + 1, x.e, decode(x.h, 'hex')
       from jsonb_to_recordset($1::jsonb) as x(i bigint, id uuid, t text, r text, o timestamptz, e jsonb, h text)`,
      [JSON.stringify(entries)],
    );
    await sql.query(`insert into audit.merkle_nodes (level, idx, hash) select x.l, x.i, decode(x.h, 'hex') from jsonb_to_recordset($1::jsonb) as x(l smallint, i bigint, h text)`, [
      JSON.stringify(nodes),
    ]);
    const head = signTreeHead({ treeSize: LEGACY_SIZE, rootHash: frontierRoot(frontier).toString('hex'), timestamp: new Date().toISOString() }, lostKey);
    await sql.query('insert into audit.tree_heads (tree_size, root_hash, timestamp, signature, key_id) values ($1, $2, $3, $4, $5)', [
      head.treeSize,
      head.rootHash,
      head.timestamp,
      head.signature,
      head.keyId,
    ]);
    // …and announced it, as every version of the service has (the tamper check compares the two).
    await new ContinuityPublisher(jetstream(nc), { source: 'audit', topology }).publish('AuditCheckpointSigned', { resource: 'audit-ledger', data: head });
  };

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'upg');
    db = await createTestDatabase('audit');
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    await writePreHistoryLedger();
  });

  afterAll(async () => {
    await audit?.app.close();
    await sql?.end();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a new installation is ready, reports its key once, and keeps the old head as matched but unverifiable', async () => {
    audit = await startAudit(db.url, topology.namespace, { AUDIT_SIGNING_KEY_FILE: join(dir, 'new.pem') });
    const report = await pollUntil(async () => {
      const body = (await audit!.get('/audit/integrity')).body;
      return body?.checkedAt ? body : null;
    }, { what: 'the first tamper check' });
    expect(report).toMatchObject({ intact: true, findings: [], unverifiedHeads: [LEGACY_SIZE] });
    expect((await audit.get('/health/ready', null)).status).toBe(200);

    const { body: keys } = await audit.get('/audit/public-keys', null);
    expect(keys.keys).toEqual([
      expect.objectContaining({ keyId: lostKeyId, publicKeyPem: null, legacyThroughTreeSize: LEGACY_SIZE }),
      expect.objectContaining({ keyId: keys.currentKeyId, previousKeyId: lostKeyId, introducedAtTreeSize: LEGACY_SIZE, attestation: null }),
    ]);
    const { rows } = await pollUntil(async () => {
      const result = await sql.query(`select envelope from audit.log_entries where type = 'AuditSigningKeyChanged'`);
      return result.rows.length ? result : null;
    }, { what: 'the key change in the ledger' });
    expect(rows).toHaveLength(1);
    expect(rows[0].envelope.data).toMatchObject({ keyId: keys.currentKeyId, previousKeyId: lostKeyId, treeSize: LEGACY_SIZE, attestation: null });

    // New heads verify with the new key; the export verifies offline, the old head said to be unverifiable.
    const publisher = ownersPublisher(jetstream(nc), { topology });
    for (let i = 0; i < 5; i++) await publisher.publish('BackupCreated', { resource: 'db-new', data: aBackupCreatedData() });
    await pollUntil(async () => (await audit!.get('/audit/tree-heads/latest')).body?.treeSize === LEGACY_SIZE + 6, { what: 'a head over the new entries' });
    expect(await audit.post('/audit/integrity/check', OPERATOR)).toMatchObject({ body: { intact: true, findings: [], unverifiedHeads: [LEGACY_SIZE] } });
    const exportFile = join(dir, 'export.json');
    writeFileSync(exportFile, JSON.stringify((await audit.get('/audit/export')).body));
    let out = '';
    const code = runCli(['verify', '--export', exportFile], { write: (s: string) => ((out += s), true) } as any, { write: () => true } as any);
    expect(out).toMatch(/✓ \d+ earlier signed heads verify, each with the key it names \(1 predate the key history: matched, not verifiable\)/);
    expect(code).toBe(0);
  }, 60_000);

  it('the lost key, found again, fills in its public key: the old head then verifies, and nothing new is reported', async () => {
    await audit!.app.close();
    audit = await startAudit(db.url, topology.namespace, { AUDIT_SIGNING_KEY: lostKey.export({ format: 'pem', type: 'pkcs8' }).toString() });
    const report = await pollUntil(async () => {
      const body = (await audit!.post('/audit/integrity/check', OPERATOR)).body;
      return body?.unverifiedHeads?.length === 0 ? body : null;
    }, { what: 'the old key recorded' });
    expect(report).toMatchObject({ intact: true, findings: [], keysKnown: 2 });
    expect(Number((await sql.query(`select count(*) from audit.log_entries where type = 'AuditSigningKeyChanged'`)).rows[0].count)).toBe(1);
  }, 60_000);
});
