import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { chromium } from 'playwright-core';
import { aBackupCreatedData, aFailoverCompletedData, anIntegrityVerifiedData, ownersPublisher } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { createTestDatabase, TEST_TOKENS } from '@continuity/runtime/testing';
import { startAudit } from './harness.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCRIPT = '<script>window.__pwned = 1</script>';
const IMG = '<img src=x onerror="window.__pwned = 2">';

describe('status page (real NATS, PostgreSQL and Chromium)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let audit: Awaited<ReturnType<typeof startAudit>>;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'status');
    db = await createTestDatabase('audit');
    audit = await startAudit(db.url, topology.namespace);
    const publisher = ownersPublisher(jetstream(nc), { topology });
    const good = aBackupCreatedData({ recoveryPoint: new Date(Date.now() - 60_000).toISOString() });
    await publisher.publish('BackupCreated', { resource: 'orders-db', data: good });
    await publisher.publish('IntegrityVerified', {
      resource: 'orders-db',
      data: anIntegrityVerifiedData({
        backupId: good.backupId,
        copies: good.copies.map((c) => ({ location: c.location, uri: c.uri, readable: true, sizeMatch: true, hashMatch: true, actualSha256: c.sha256, durationMs: 3, mbPerSec: 90, error: null })),
      }),
    });
    // Attack: markup in event-derived text (a member name, a verdict's reasons) from the bus.
    await publisher.publish('FailoverCompleted', { resource: 'orders-db', data: aFailoverCompletedData({ newPrimary: SCRIPT }) });
    const bad = aBackupCreatedData();
    await publisher.publish('BackupCreated', { resource: 'files', data: bad });
    await publisher.publish('IntegrityVerified', { resource: 'files', data: anIntegrityVerifiedData({ backupId: bad.backupId, verdict: 'failed', reasons: [`copy ${IMG} unreadable`] }) });
    await pollUntil(async () => ((await audit.get('/audit/resources')).body?.resources ?? []).length === 2 && (await audit.get('/audit/tree-heads/latest')).body?.treeSize >= 5, {
      what: 'both resources projected and a signed head over them',
    });
  });

  afterAll(async () => {
    await audit?.app.close();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
  });

  it('shows the sign-in form without credentials, the page with a bearer token, and a 401 for an unknown one (never echoed)', async () => {
    const anonymous = await fetch(`${audit.base}/`);
    expect(anonymous.status).toBe(200);
    expect(await anonymous.text()).toContain('action="/session"');
    const viewer = await fetch(`${audit.base}/`, { headers: { authorization: `Bearer ${TEST_TOKENS.viewer}` } });
    expect(viewer.status).toBe(200);
    expect(viewer.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await viewer.text()).toContain('data-resource="orders-db"');
    const unknown = 'not-a-token-but-long-enough-0123456789';
    const refused = await fetch(`${audit.base}/`, { headers: { authorization: `Bearer ${unknown}` } });
    expect(refused.status).toBe(401);
    expect(await refused.text()).not.toContain(unknown);
    const badForm = await fetch(`${audit.base}/session`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${unknown}`, redirect: 'manual' });
    expect(badForm.status).toBe(401);
    expect(badForm.headers.get('set-cookie')).toBeNull();
    expect(await badForm.text()).not.toContain(unknown);
  });

  it('refuses a login posted from another site, and a session cookie for anything but reads', async () => {
    const crossSite = await fetch(`${audit.base}/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: `token=${TEST_TOKENS.operator}`,
      redirect: 'manual',
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.headers.get('set-cookie')).toBeNull();
    const login = await fetch(`${audit.base}/session`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${TEST_TOKENS.operator}`, redirect: 'manual' });
    expect(login.status).toBe(303);
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^continuity_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    const session = cookie.split(';')[0]!;
    // The operator's session reads…
    expect((await fetch(`${audit.base}/audit/tree-heads/latest`, { headers: { cookie: session } })).status).toBe(200);
    // …but writes need the bearer token itself (a form elsewhere can make a browser send a cookie).
    const write = await fetch(`${audit.base}/audit/tree-heads`, { method: 'POST', headers: { cookie: session, 'content-type': 'application/json' }, body: '{}' });
    expect(write.status).toBe(401);
    // Other form bodies stay refused everywhere else.
    expect((await fetch(`${audit.base}/audit/tree-heads`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' })).status).toBe(415);
    const logout = await fetch(`${audit.base}/session/end`, { method: 'POST', headers: { cookie: session }, redirect: 'manual' });
    expect(logout.status).toBe(303);
    expect((await fetch(`${audit.base}/audit/tree-heads/latest`, { headers: { cookie: session } })).status).toBe(401);
  });

  it('signs in once in headless Chromium, shows every resource with event text escaped, and follows the report link, without console errors', async () => {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(`${audit.base}/`);
      await page.fill('input[name="token"]', TEST_TOKENS.auditor);
      await page.click('button[type="submit"]');
      await page.waitForSelector('table.resources', { timeout: 15_000 }).catch(async (e) => {
        throw new Error(`${e.message}\n${page.url()}\n${await page.content()}\n${problems.join('\n')}`);
      });
      expect(await page.locator('tr[data-resource="orders-db"] .name').textContent()).toBe('orders-db');
      expect(await page.locator('tr[data-resource="orders-db"] .cond').textContent()).toBe('protected');
      expect(await page.locator('tr[data-resource="files"] .cond').textContent()).toBe('not verified yet');
      // The attack: markup from events is shown as text, and nothing of it ran.
      expect(await page.locator('tr[data-resource="orders-db"] .failovers').textContent()).toContain(SCRIPT);
      expect(await page.locator('tr[data-resource="files"] .reasons').textContent()).toContain(IMG);
      expect(await page.evaluate("typeof window.__pwned")).toBe("undefined");
      expect(await page.content()).not.toContain(TEST_TOKENS.auditor);
      const [cookie] = await context.cookies();
      expect(cookie).toMatchObject({ name: 'continuity_session', httpOnly: true, sameSite: 'Strict' });
      // The session opens the report too (an auditor's), no token pasted again.
      await Promise.all([page.waitForURL(/reports\/continuity/), page.click('a[href="/audit/reports/continuity?format=html"]')]);
      expect(await page.locator('section[data-resource="orders-db"] h2').textContent()).toBe('orders-db');
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
