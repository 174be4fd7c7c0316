import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { aBackupCreatedData, ownersPublisher } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { createTestDatabase } from '@continuity/runtime/testing';
import { TamperCheckService } from '../src/integrity/tamper-check.service.js';
import { OPERATOR, publishBackups, runVerify as verify, startAudit } from './harness.js';

describe('tamper evidence and offline verification (real NATS and PostgreSQL)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let audit: Awaited<ReturnType<typeof startAudit>>;
  let sql: Client;
  let publisher: ReturnType<typeof ownersPublisher>;
  const dir = mkdtempSync(join(tmpdir(), 'continuity-audit-verify-'));
  const file = (name: string, content: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'tamp');
    db = await createTestDatabase('audit');
    audit = await startAudit(db.url, topology.namespace);
    sql = new Client({ connectionString: db.url });
    await sql.connect();
    publisher = ownersPublisher(jetstream(nc), { topology });
    await publishBackups(audit, publisher, 20);
  });

  afterAll(async () => {
    await audit?.app.close();
    await sql?.end();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
  });

  it('verifies an export, an inclusion proof and a consistency proof offline, and rejects a doctored export', async () => {
    const { body: key } = await audit.get('/audit/public-key', null);
    const keyFile = file('key.pem', key.publicKeyPem);
    const { body: heads } = await audit.get('/audit/tree-heads');
    const latest = heads.heads[heads.heads.length - 1];
    const oldest = heads.heads[0];
    const { body: exported } = await audit.get(`/audit/export?to=${latest.treeSize}`);
    const { body: event } = await audit.get(`/audit/events/${exported.entries[5].envelope.id}`);
    const { body: consistency } = await audit.get(`/audit/proofs/consistency?from=${oldest.treeSize}&to=${latest.treeSize}`);

    const good = verify([
      '--export', file('export.json', exported),
      '--public-key', keyFile,
      '--head', file('head.json', latest),
      '--inclusion', file('event.json', event),
      ...(oldest.treeSize < latest.treeSize ? ['--consistency', file('consistency.json', consistency), '--old-head', file('old-head.json', oldest)] : []),
    ]);
    expect(good.err).toBe('');
    expect(good.out).toContain(`✓ root recomputed from ${latest.treeSize} exported entries equals the signed root`);
    expect(good.out).toContain('✓ entry 5 is included');
    expect(good.code).toBe(0);

    const doctored = structuredClone(exported);
    doctored.entries[3].envelope.data.sizeBytes += 1;
    const bad = verify(['--export', file('doctored.json', doctored), '--public-key', keyFile]);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('changed: entry 3');
    expect(bad.out).toContain('VERIFICATION FAILED');

    const forged = verify(['--export', file('export2.json', exported), '--public-key', keyFile, '--head', file('forged.json', { ...latest, rootHash: '0'.repeat(64) })]);
    expect(forged.code).toBe(1);
    expect(forged.out).toContain('does NOT verify');

    expect(verify(['verify-nothing']).code).toBe(2);
  });

  it('checks the entries stored when it starts: entries appended while it runs are left, intact, to the next check', async () => {
    const dataSource = audit.app.get(DataSource);
    const checker = audit.app.get(TamperCheckService);
    const query = dataSource.query.bind(dataSource);
    let storedAtStart = -1;
    // Five more entries are appended right after the check has read how many are stored.
    const spy = jest.spyOn(dataSource, 'query').mockImplementation(async (text: string, parameters?: any) => {
      const result = await query(text, parameters);
      if (storedAtStart < 0 && text.includes('max(log_index) as last from audit.log_entries')) {
        storedAtStart = Number(result[0].last) + 1;
        spy.mockRestore();
        await publishBackups(audit, publisher, 5);
      }
      return result;
    });
    const during = await checker.check();
    expect(storedAtStart).toBeGreaterThanOrEqual(20);
    expect(during).toMatchObject({ intact: true, findings: [], entriesChecked: storedAtStart });

    const next = await checker.check();
    expect(next).toMatchObject({ intact: true, findings: [], entriesChecked: storedAtStart + 5 });
  });

  it('warns, saying why, while the check cannot run, and stops once it runs', async () => {
    expect((await audit.post('/audit/integrity/check', OPERATOR)).body).toMatchObject({ intact: true });
    // The stored subtree hashes out of reach: the check cannot finish (it must not vouch from its last report).
    await sql.query('alter table audit.merkle_nodes rename to merkle_nodes_away');
    try {
      expect((await audit.post('/audit/integrity/check', OPERATOR)).status).toBe(500);
      const { body: report } = await audit.get('/audit/integrity');
      expect(report).toMatchObject({ intact: true, failedToRun: { error: expect.stringContaining('merkle_nodes') } });
      const ready = await audit.get('/health/ready', null);
      expect(ready.status).toBe(200);
      expect(ready.body.checks.ledger).toMatchObject({ status: 'up', warning: expect.stringMatching(/tamper check failed to run at .*merkle_nodes.*the last complete check is from/) });
    } finally {
      await sql.query('alter table audit.merkle_nodes_away rename to merkle_nodes');
    }
    expect((await audit.post('/audit/integrity/check', OPERATOR)).body).toMatchObject({ intact: true, findings: [] });
    expect((await audit.get('/audit/integrity')).body.failedToRun).toBeUndefined();
    expect((await audit.get('/health/ready', null)).body.checks.ledger).toEqual({ status: 'up' });
  });

  it('reports a row changed, removed or inserted behind its back, naming the index, and turns not ready', async () => {
    const before = await audit.post('/audit/integrity/check', OPERATOR);
    expect(before.body).toMatchObject({ intact: true, findings: [] });
    expect((await audit.get('/health/ready', null)).status).toBe(200);

    // Behind the service's back: replica mode skips the append-only trigger, as a superuser could.
    await sql.query(`set session_replication_role = replica`);
    await sql.query(`update audit.log_entries set envelope = jsonb_set(envelope, '{source}', '"mallory"') where log_index = 7`);
    await sql.query(`delete from audit.log_entries where log_index = 12`);
    await sql.query(
      `insert into audit.log_entries select 500, gen_random_uuid(), type, resource, occurred_at, recorded_at, stream_seq, envelope, leaf_hash from audit.log_entries where log_index = 3`,
    );
    // …and one at the largest index a bigint holds (one past it does not exist to bound a check by).
    await sql.query(
      `insert into audit.log_entries select 9223372036854775807, gen_random_uuid(), type, resource, occurred_at, recorded_at, stream_seq, envelope, leaf_hash from audit.log_entries where log_index = 4`,
    );
    await sql.query(`set session_replication_role = origin`);

    const after = await audit.post('/audit/integrity/check', OPERATOR);
    expect(after.body.intact).toBe(false);
    const kinds = after.body.findings.map((f: any) => `${f.kind}@${f.logIndex ?? f.treeSize}`);
    expect(kinds).toEqual(expect.arrayContaining(['changed@7', 'missing@12']));
    expect(after.body.findings.some((f: any) => f.kind === 'root-mismatch')).toBe(true);
    expect(after.body.findings.some((f: any) => f.kind === 'missing' && f.detail.includes('next stored index is 500'))).toBe(true);
    expect(after.body.findings.some((f: any) => f.kind === 'out-of-place' && f.detail.includes('not placed in the tree'))).toBe(true);
    const ready = await audit.get('/health/ready', null);
    expect(ready.status).toBe(503);
    expect(ready.body.checks.ledger.error).toContain('entry 7');

    // The trigger refuses the same change made through ordinary SQL.
    await expect(sql.query(`delete from audit.log_entries where log_index = 1`)).rejects.toThrow('audit history is append-only');
  });
});
