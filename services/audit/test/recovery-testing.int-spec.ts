import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { chromium } from 'playwright-core';
import { aBackupCreatedData, aDrillCompletedData, anIntegrityVerifiedData, ownersPublisher } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { createTestDatabase, TEST_TOKENS } from '@continuity/runtime/testing';
import { startAudit } from './harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const BIN = join(__dirname, '..', 'bin', 'continuity-audit.js');

/** The number of pages of a PDF, and the titles of its outline (Chromium writes them as literal strings). */
const pdfFacts = (pdf: Buffer) => {
  const text = pdf.toString('latin1');
  return { pages: (text.match(/\/Type\s*\/Page[^s]/g) ?? []).length, titles: [...text.matchAll(/\/Title \(([^)]*)\)/g)].map((m) => m[1]) };
};

describe('recovery-testing report (real NATS, PostgreSQL and Chromium)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let audit: Awaited<ReturnType<typeof startAudit>>;
  const resources = ['files', 'orders-db'];
  const from = new Date(Date.now() - 3_600_000).toISOString();

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'rtr');
    db = await createTestDatabase('audit');
    audit = await startAudit(db.url, topology.namespace);
    const publisher = ownersPublisher(jetstream(nc), { topology });
    for (const resource of resources) {
      for (const status of ['passed', 'failed'] as const) {
        const backup = aBackupCreatedData({ recoveryPoint: new Date(Date.now() - 120_000).toISOString() });
        await publisher.publish('BackupCreated', { resource, data: backup });
        await publisher.publish('IntegrityVerified', {
          resource,
          data: anIntegrityVerifiedData({
            backupId: backup.backupId,
            verdict: status,
            reasons: status === 'failed' ? ['restore test: row counts differ'] : [],
            restoreTest: { status, durationMs: status === 'passed' ? 2_000 : 4_000, checks: [{ name: 'row counts as recorded', passed: status === 'passed', detail: status === 'passed' ? null : 'public.orders: 1 rows, recorded 2' }] },
          }),
        });
      }
    }
    await publisher.publish('DrillCompleted', { resource: 'orders-db', data: aDrillCompletedData({ drillId: '01937a5e-0000-7000-8000-0000000000a1', finishedAt: new Date().toISOString() }) });
    await publisher.publish('DrillCompleted', {
      resource: 'orders-db',
      data: aDrillCompletedData({
        drillId: '01937a5e-0000-7000-8000-0000000000a2',
        outcome: 'failed',
        finishedAt: new Date().toISOString(),
        achieved: { rtoMs: 45_000, rpoMs: 60_000 },
        failedStep: 'restore',
        reason: 'restore step failed: restore took 45.0 s, above the RTO target of 30.0 s',
      }),
    });
    await pollUntil(async () => (await audit.get('/audit/tree-heads/latest')).body?.treeSize >= 10, { what: 'a signed head over every test' });
  }, 60_000);

  afterAll(async () => {
    await audit?.app.close();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
  });

  it('reports every drill and restore test per resource as JSON, with failures, causes and the signed head', async () => {
    const { status, body } = await audit.get(`/audit/reports/recovery-testing?from=${from}`, TEST_TOKENS.viewer);
    expect(status).toBe(200);
    expect(body.resources.map((r: any) => r.resource)).toEqual(resources);
    const orders = body.resources.find((r: any) => r.resource === 'orders-db');
    expect(orders.drills).toEqual({ total: 2, passed: 1, failed: 1 });
    expect(orders.restoreTests).toEqual({ total: 2, passed: 1, failed: 1 });
    expect(orders.failures.map((f: any) => f.cause)).toEqual([
      'row counts as recorded (public.orders: 1 rows, recorded 2); restore test: row counts differ',
      'restore step failed: restore took 45.0 s, above the RTO target of 30.0 s',
    ]);
    expect(body.estate).toMatchObject({ resources: 2, resourcesWithoutDrill: ['files'], failures: 3 });
    expect(body.signedHead.treeSize).toBeGreaterThanOrEqual(10);
    expect((await audit.get('/audit/reports/recovery-testing', null)).status).toBe(401);
    expect((await audit.get('/audit/reports/recovery-testing?format=docx')).body.issues).toEqual([{ path: 'format', message: 'must be json, html or pdf (got "docx")' }]);
  });

  it('renders HTML with trend charts for every resource in headless Chromium without console errors', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    try {
      const context = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${TEST_TOKENS.auditor}` } });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('pageerror', (e) => problems.push(e.message));
      const response = await page.goto(`${audit.base}/audit/reports/recovery-testing?format=html&from=${from}`);
      expect(response?.status()).toBe(200);
      for (const resource of resources) expect(await page.locator(`section[data-resource="${resource}"] h2`).textContent()).toBe(`Recovery testing: ${resource}`);
      expect(await page.locator('svg.chart.rto').count()).toBe(resources.length);
      expect(await page.locator('section[data-resource="orders-db"] svg.chart.rto circle.point.failed').count()).toBe(1);
      expect(await page.locator('.head').textContent()).toContain('signed tree head');
      expect((await page.locator('svg.chart.rto').first().boundingBox())?.width).toBeGreaterThan(100);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('prints a PDF with Chromium: one section (its own page and outline entry) per resource', async () => {
    const res = await fetch(`${audit.base}/audit/reports/recovery-testing?format=pdf&from=${from}`, { headers: { authorization: `Bearer ${TEST_TOKENS.auditor}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pdf');
    const pdf = Buffer.from(await res.arrayBuffer());
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const { pages, titles } = pdfFacts(pdf);
    for (const resource of resources) expect(titles.filter((t) => t === `Recovery testing: ${resource}`)).toHaveLength(1);
    expect(titles.filter((t) => t.startsWith('Recovery testing: '))).toHaveLength(resources.length);
    // The estate and the signed head first, then each resource on a page of its own.
    expect(pages).toBeGreaterThanOrEqual(1 + resources.length);
  }, 90_000);

  it('is fetched by `continuity-audit report recovery-testing` with the token from the environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'continuity-rtr-'));
    try {
      const out = join(dir, 'report.pdf');
      const run = (args: string[], env: Record<string, string>) =>
        new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          child.stderr.on('data', (c) => (stderr += c));
          child.once('exit', (code) => resolve({ code, stderr }));
        });
      const ok = await run(['report', 'recovery-testing', '--url', audit.base, '--format', 'pdf', '--from', from, '--out', out], { CONTINUITY_TOKEN: TEST_TOKENS.viewer });
      expect(ok).toEqual({ code: 0, stderr: '' });
      expect(pdfFacts(readFileSync(out)).titles).toEqual(expect.arrayContaining(resources.map((r) => `Recovery testing: ${r}`)));
      const refused = await run(['report', 'recovery-testing', '--url', audit.base], { CONTINUITY_TOKEN: 'not-a-token-of-anyone-0123456789abcdef' });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('answered 401');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
