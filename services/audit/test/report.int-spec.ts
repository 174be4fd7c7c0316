import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Client } from 'pg';
import { chromium } from 'playwright-core';
import { aBackupCreatedData, aFailoverCompletedData, anIntegrityVerifiedData, ownersPublisher } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { createTestDatabase } from '@continuity/runtime/testing';
import { AUDITOR, startAudit } from './harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('continuity report and auditor SQL (real NATS, PostgreSQL and Chromium)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let audit: Awaited<ReturnType<typeof startAudit>>;
  const resources = ['orders-db', 'billing-db', 'files'];

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'rep');
    db = await createTestDatabase('audit');
    audit = await startAudit(db.url, topology.namespace);
    const publisher = ownersPublisher(jetstream(nc), { topology });
    for (const resource of resources) {
      for (let i = 3; i >= 1; i--) {
        const backup = aBackupCreatedData({ recoveryPoint: new Date(Date.now() - i * 120_000).toISOString() });
        await publisher.publish('BackupCreated', { resource, data: backup });
        await publisher.publish('IntegrityVerified', {
          resource,
          data: anIntegrityVerifiedData({
            backupId: backup.backupId,
            copies: backup.copies.map((c) => ({ location: c.location, uri: c.uri, readable: true, sizeMatch: true, hashMatch: true, actualSha256: c.sha256, durationMs: 3, mbPerSec: 90, error: null })),
          }),
        });
      }
    }
    await publisher.publish('FailoverCompleted', { resource: 'orders-db', data: aFailoverCompletedData() });
    await pollUntil(async () => (await audit.get('/audit/tree-heads/latest')).body?.treeSize >= 19, { what: 'a signed head over the story' });
  });

  afterAll(async () => {
    await audit?.app.close();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
  });

  it('reports every resource as JSON, computed from the latest signed head', async () => {
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const { status, body } = await audit.get(`/audit/reports/continuity?from=${from}`);
    expect(status).toBe(200);
    expect(body.resources.map((r: any) => r.resource)).toEqual([...resources].sort());
    const orders = body.resources.find((r: any) => r.resource === 'orders-db');
    expect(orders.backups).toMatchObject({ taken: 3, verified: 3 });
    expect(orders.failovers).toHaveLength(1);
    expect(orders.rpoAchievedMs).toBeGreaterThan(0);
    expect(orders.threeTwoOne.compliant).toBe(true);
    expect(body.signedHead.treeSize).toBeGreaterThanOrEqual(19);
    expect((await audit.get('/audit/reports/continuity?format=pdf')).body.issues).toEqual([{ path: 'format', message: 'must be json or html (got "pdf")' }]);
  });

  it('renders an HTML page that loads without console errors and shows the chart and every resource', async () => {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const context = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${AUDITOR}` } });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('pageerror', (e) => problems.push(e.message));
      const response = await page.goto(`${audit.base}/audit/reports/continuity`);
      expect(response?.status()).toBe(200);
      expect(response?.headers()['content-type']).toContain('text/html');
      for (const resource of resources) expect(await page.locator(`section[data-resource="${resource}"] h2`).textContent()).toBe(resource);
      expect(await page.locator('svg.chart polyline.rpo').count()).toBe(resources.length);
      expect(await page.locator('.head').textContent()).toContain('signed tree head');
      // The report leads with the risks and the estate: one row per resource, before any detail.
      for (const resource of resources) expect(await page.locator(`table.estate tr[data-resource="${resource}"]`).count()).toBe(1);
      const order = await Promise.all(['#risks', '#estate', 'section.resource'].map(async (s) => (await page.locator(s).first().boundingBox())!.y));
      expect(order).toEqual([...order].sort((a, b) => a - b));
      expect(await page.locator('section[data-resource="orders-db"] .protection').textContent()).toContain('Recoverable window');
      const box = await page.locator('svg.chart').first().boundingBox();
      expect(box?.width).toBeGreaterThan(100);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('serves the same data as SQL views readable (only) by the continuity_auditor role', async () => {
    const sql = new Client({ connectionString: db.url });
    await sql.connect();
    try {
      await sql.query('set role continuity_auditor');
      const { rows } = await sql.query('select resource, backups_taken, verifications_passed, three_two_one_compliant, failovers from audit.continuity_report order by resource');
      expect(rows.filter((r) => resources.includes(r.resource))).toEqual(
        [...resources].sort().map((resource) => ({ resource, backups_taken: 3, verifications_passed: 3, three_two_one_compliant: true, failovers: resource === 'orders-db' ? 1 : 0 })),
      );
      expect((await sql.query('select count(*)::int as n from audit.failovers')).rows[0].n).toBe(1);
      expect((await sql.query(`select count(*)::int as n from audit.backups where verdict = 'passed'`)).rows[0].n).toBe(9);
      await expect(sql.query('delete from audit.resource_states')).rejects.toThrow(/permission denied/);
    } finally {
      await sql.end();
    }
  });

  it('documents the API with OpenAPI at /audit/docs', async () => {
    const res = await fetch(`${audit.base}/audit/docs-json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/audit/resources/{resource}/state', '/audit/events/{id}', '/audit/reports/continuity']));
  });
});
