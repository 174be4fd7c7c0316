import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { aBackupCreatedData, anIntegrityVerifiedData, ownersPublisher } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { createTestDatabase, TEST_TOKENS } from '@continuity/runtime/testing';
import { runPlanCli } from '../src/plans/plan.cli.js';
import { startAudit } from './harness.js';

describe('continuity plan (real NATS and PostgreSQL)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let audit: Awaited<ReturnType<typeof startAudit>>;
  let dir: string;
  let file: string;
  const backup = aBackupCreatedData({ recoveryPoint: new Date(Date.now() - 60_000).toISOString() });

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'plan');
    db = await createTestDatabase('audit');
    dir = mkdtempSync(join(tmpdir(), 'continuity-plan-'));
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, 'plan-test-secret');
    chmodSync(secretFile, 0o600);
    file = join(dir, 'notifications.yaml');
    writeFileSync(
      file,
      [
        'channels:',
        `  oncall: { kind: webhook, url: 'http://127.0.0.1:9/hook', secretFile: ${secretFile} }`,
        'routes:',
        "  - { resources: ['orders-*'], channels: [oncall], minSeverity: high }",
        'contacts:',
        "  - { resources: ['orders-*'], name: Orders on-call, email: orders-oncall@example.com, phone: '+44 20 0000 0000' }",
      ].join('\n'),
    );
    audit = await startAudit(db.url, topology.namespace, { AUDIT_NOTIFICATIONS_FILE: file, AUDIT_FAILOVER_URL: 'http://failover.internal:3003' });
    const publisher = ownersPublisher(jetstream(nc), { topology });
    await publisher.publish('BackupCreated', { resource: 'orders-db', data: backup });
    await publisher.publish('IntegrityVerified', {
      resource: 'orders-db',
      data: anIntegrityVerifiedData({
        backupId: backup.backupId,
        copies: backup.copies.map((c) => ({ location: c.location, uri: c.uri, readable: true, sizeMatch: true, hashMatch: true, actualSha256: c.sha256, durationMs: 3, mbPerSec: 90, error: null })),
      }),
    });
    await pollUntil(async () => (await audit.get('/audit/tree-heads/latest')).body?.treeSize >= 2, { timeoutMs: 20_000, what: 'a signed head over both events' });
  });

  afterAll(async () => {
    await audit?.app.close();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const fetchPlan = (path: string, token: string | null) => fetch(`${audit.base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('names every copy, the restore command, contacts, channels and the signed head (Markdown, for a viewer)', async () => {
    const res = await fetchPlan('/audit/resources/orders-db/plan', TEST_TOKENS.viewer);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/markdown');
    const md = await res.text();
    for (const copy of backup.copies) expect(md).toContain(`| ${copy.location} | ${copy.site} | ${copy.medium} |`);
    expect(md).toContain(`continuity restore ${backup.backupId} --to`);
    expect(md).toContain('http://failover.internal:3003/failover/orders-db/switchover');
    expect(md).toContain('| Orders on-call |');
    expect(md).toContain('channels oncall');
    expect(md).toMatch(/Signed tree head: size \d+, root `[0-9a-f]{64}`/);
    expect(md).not.toContain('plan-test-secret');
    expect(md).not.toContain('127.0.0.1:9'); // channel URLs are not in plans
  });

  it('serves HTML and JSON for an auditor, refuses strangers and bad names, 404s unknown resources', async () => {
    const html = await fetchPlan('/audit/resources/orders-db/plan?format=html', TEST_TOKENS.auditor);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toContain('text/html');
    expect(html.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await html.text()).toContain('<h1>Business continuity plan: orders-db</h1>');
    const json = (await (await fetchPlan('/audit/resources/orders-db/plan?format=json', TEST_TOKENS.auditor)).json()) as { copies: unknown[] };
    expect(json.copies).toHaveLength(backup.copies.length);
    expect((await fetchPlan('/audit/resources/orders-db/plan', null)).status).toBe(401);
    expect((await fetchPlan('/audit/resources/orders-db/plan?format=pdf', TEST_TOKENS.auditor)).status).toBe(400);
    expect((await fetchPlan('/audit/resources/orders..db/plan', TEST_TOKENS.auditor)).status).toBe(400);
    expect((await fetchPlan('/audit/resources/nobody-knows/plan', TEST_TOKENS.auditor)).status).toBe(404);
  });

  it('prints the same plan from the CLI, reading the database directly', async () => {
    let out = '';
    let err = '';
    const code = await runPlanCli(['orders-db'], { DATABASE_URL: db.url, AUDIT_NOTIFICATIONS_FILE: file }, { write: (s: string) => ((out += s), true) } as any, { write: (s: string) => ((err += s), true) } as any);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain(`continuity restore ${backup.backupId} --to`);
    for (const copy of backup.copies) expect(out).toContain(`| ${copy.location} | ${copy.site} | ${copy.medium} |`);
    expect(await runPlanCli([], {}, { write: () => true } as any, { write: () => true } as any)).toBe(2);
  });
});
