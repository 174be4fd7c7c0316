import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Client } from 'pg';
import { ContinuityPublisher, EVENT_LIMITS, eventSubject } from '@continuity/contracts';
import { aBackupFailedData, anAuditCheckpointSignedData, anEvent } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil, readDeadLetters } from '@continuity/messaging/testing';
import { createTestDatabase } from '@continuity/runtime/testing';
import { envelopeLeafHash, rootFromLeafHashes, signTreeHead } from '@continuity/contracts/ledger';
import { OPERATOR, publishBackups, runVerify as verify, startAudit } from './harness.js';

const PAGE = 8;

describe('bounded responses, bounded events and announced heads (real NATS and PostgreSQL)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let audit: Awaited<ReturnType<typeof startAudit>>;
  let sql: Client;
  const dir = mkdtempSync(join(tmpdir(), 'continuity-audit-bounds-'));
  const file = (name: string, content: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(content));
    return path;
  };

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'bnd');
    db = await createTestDatabase('audit');
    audit = await startAudit(db.url, topology.namespace, { AUDIT_EXPORT_MAX_ENTRIES: String(PAGE) });
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    const publisher = new ContinuityPublisher(jetstream(nc), { source: 'backup', topology });
    await publishBackups(audit, publisher, 20);
    await publishBackups(audit, publisher, 1); // at least two heads, so the heads can be paged
  });

  afterAll(async () => {
    await audit?.app.close();
    await sql?.end();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
  });

  it('pages the export, each page carrying a range proof that verifies offline on its own', async () => {
    const { body: key } = await audit.get('/audit/public-key', null);
    const keyFile = join(dir, 'key.pem');
    writeFileSync(keyFile, key.publicKeyPem);
    const first = (await audit.get('/audit/export')).body;
    const size = first.signedHead.treeSize;
    expect(first.entries).toHaveLength(PAGE);
    expect(first.next).toEqual({ from: PAGE, to: 2 * PAGE });
    expect(first.rangeProof.treeSize).toBe(size);
    const second = (await audit.get(`/audit/export?from=${first.next.from}&to=${first.next.to}`)).body;
    for (const [name, page] of [['first', first], ['second', second]] as const) {
      const run = verify(['--export', file(`${name}.json`, page), '--public-key', keyFile]);
      expect(run.out).toContain(`✓ entries ${page.from}…${page.to - 1}`);
      expect(run.code).toBe(0);
    }
    // The same page without its proof (an old-format or doctored export) is refused, never "verified".
    const { rangeProof: _dropped, ...bare } = second;
    const refused = verify(['--export', file('bare.json', bare), '--public-key', keyFile]);
    expect(refused.out).toContain('carries no range proof: refused');
    expect(refused.code).toBe(1);
  });

  it('answers 400 naming the limit for an export range, a tree-heads page or a report period too large', async () => {
    const tooMany = await audit.get(`/audit/export?from=0&to=${PAGE + 1}`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.message).toContain(`at most ${PAGE} entries per request`);
    expect((await audit.get(`/audit/export?from=0&to=${PAGE}`)).status).toBe(200);

    const heads = await audit.get('/audit/tree-heads?limit=1001');
    expect(heads.status).toBe(400);
    expect(heads.body.message).toContain('at most 1000 heads per request');
    const page = (await audit.get('/audit/tree-heads?limit=1')).body;
    expect(page.heads).toHaveLength(1);
    const next = (await audit.get(`/audit/tree-heads?limit=1&after=${page.next.after}`)).body;
    expect(next.heads[0].treeSize).toBeGreaterThan(page.heads[0].treeSize);

    const report = await audit.get('/audit/reports/continuity?from=2024-01-01T00:00:00Z&to=2025-02-05T00:00:01Z');
    expect(report.status).toBe(400);
    expect(report.body.message).toContain('at most 400 days per request');
    expect((await audit.get('/audit/reports/continuity?from=2024-01-01T00:00:00Z&to=2025-02-04T00:00:00Z')).status).toBe(200);
  });

  it('dead-letters an event over a length limit as invalid, at once', async () => {
    const oversize = anEvent('BackupFailed', { resource: 'big-db', data: aBackupFailedData({ reason: 'x'.repeat(EVENT_LIMITS.text + 1) }) });
    const ack = await jetstream(nc).publish(eventSubject('BackupFailed', 'big-db', topology), JSON.stringify(oversize));
    const letter = await pollUntil(async () => (await readDeadLetters(nc, topology)).find((l) => l.streamSequence === ack.seq), { what: 'the dead letter' });
    expect(letter.reason).toContain('data.reason');
    expect(letter.reason).toContain(String(EVENT_LIMITS.text));
    expect(letter.deliveryCount).toBe(1);
  });

  it('announces a validly signed head whose announcement was lost, instead of calling it tampering', async () => {
    // The service stored a head and stopped (or NATS was down) before announcing it: a head of the
    // ledger's first entries (a size not signed yet), signed with the service's own key an hour ago, never announced.
    const signed = new Set((await sql.query('select tree_size from audit.tree_heads')).rows.map((r) => Number(r.tree_size)));
    let size = 1;
    while (signed.has(size)) size++;
    const rows = (await sql.query('select envelope from audit.log_entries order by log_index limit $1', [size])).rows;
    expect(rows).toHaveLength(size);
    const key = createPrivateKey(readFileSync(join(tmpdir(), `continuity-audit-${topology.namespace}.pem`)));
    const head = signTreeHead({ treeSize: size, rootHash: rootFromLeafHashes(rows.map((r) => envelopeLeafHash(r.envelope))).toString('hex'), timestamp: new Date(Date.now() - 3_600_000).toISOString() }, key);
    await sql.query('insert into audit.tree_heads (tree_size, root_hash, timestamp, signature, key_id) values ($1, $2, $3, $4, $5)', [
      head.treeSize,
      head.rootHash,
      head.timestamp,
      head.signature,
      head.keyId,
    ]);
    const report = (await audit.post('/audit/integrity/check', OPERATOR)).body;
    expect(report).toMatchObject({ intact: true, findings: [] });
    // …and it is on the stream now: the next check finds it announced.
    await pollUntil(async () => (await audit.post('/audit/integrity/check', OPERATOR)).body.announcementsChecked === report.headsChecked, {
      what: 'the lost announcement published',
    });
  });

  it('finds stored heads and their AuditCheckpointSigned announcements disagreeing', async () => {
    const intact = (await audit.post('/audit/integrity/check', OPERATOR)).body;
    expect(intact).toMatchObject({ intact: true, findings: [] });
    expect(intact.announcementsChecked).toBe(intact.headsChecked);

    const [stored] = (await sql.query('select * from audit.tree_heads order by tree_size limit 1')).rows;
    const publisher = new ContinuityPublisher(jetstream(nc), { source: 'audit', topology });
    // An announcement for a head never stored, and one contradicting a stored head.
    await publisher.publish('AuditCheckpointSigned', { resource: 'audit-ledger', data: anAuditCheckpointSignedData({ treeSize: 100_000 }) });
    await publisher.publish('AuditCheckpointSigned', { resource: 'audit-ledger', data: { ...anAuditCheckpointSignedData(), treeSize: Number(stored.tree_size) } });
    // A head stored behind the service's back, never announced (an hour old: not "on its way").
    await sql.query('insert into audit.tree_heads (tree_size, root_hash, timestamp, signature, key_id) values (50000, $1, $2, $3, $4)', [
      '0'.repeat(64),
      new Date(Date.now() - 3_600_000).toISOString(),
      stored.signature,
      stored.key_id,
    ]);

    const report = (await audit.post('/audit/integrity/check', OPERATOR)).body;
    expect(report.intact).toBe(false);
    const kinds = report.findings.map((f: any) => f.kind);
    expect(kinds).toEqual(expect.arrayContaining(['unstored-announcement', 'announcement-differs', 'unannounced-head']));
    expect(report.findings.find((f: any) => f.kind === 'unstored-announcement').treeSize).toBe(100_000);
    expect(report.findings.find((f: any) => f.kind === 'unannounced-head').treeSize).toBe(50_000);
    expect(report.findings.find((f: any) => f.kind === 'announcement-differs').treeSize).toBe(Number(stored.tree_size));
  });
});
