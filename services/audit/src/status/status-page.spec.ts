import { aBackupCreatedData, aFailoverCompletedData, aFailoverTriggeredData, anEvent, anIntegrityVerifiedData } from '@continuity/contracts/testing';
import { EventType } from '@continuity/contracts';
import { DEFAULT_SLO_TARGETS, evolveResourceState, LedgerEntry, ResourceState } from '../resource-state/resource-state.projection.js';
import { renderLoginPage, renderStatusPage, tracesLink } from './status-page.html.js';
import { statusView } from './status-view.js';

let index = 0;
const at = (minute: number) => new Date(Date.UTC(2026, 10, 30, 9, minute)).toISOString();
const entry = (type: EventType, data: any, minute: number, resource: string): LedgerEntry => ({
  logIndex: index++,
  recordedAt: at(minute),
  event: anEvent(type, { resource, data, occurredAt: at(minute) }),
});
const fold = (entries: LedgerEntry[]) => {
  const states = new Map<string, ResourceState>();
  for (const e of entries) states.set(e.event.resource, evolveResourceState(states.get(e.event.resource) ?? null, e));
  return [...states.values()];
};
const passedCopies = (b: ReturnType<typeof aBackupCreatedData>) =>
  b.copies.map((c) => ({ location: c.location, uri: c.uri, readable: true, sizeMatch: true, hashMatch: true, actualSha256: c.sha256, durationMs: 1, mbPerSec: 1, error: null }));
const verified = (resource: string, rpMinute: number, restoreMs = 1234) => {
  const b = aBackupCreatedData({ recoveryPoint: at(rpMinute) });
  const v = anIntegrityVerifiedData({ backupId: b.backupId, copies: passedCopies(b) });
  return [entry('BackupCreated', b, rpMinute, resource), entry('IntegrityVerified', { ...v, restoreTest: v.restoreTest ? { ...v.restoreTest, durationMs: restoreMs } : v.restoreTest }, rpMinute + 1, resource)];
};
const caller = { name: 'alice', role: 'viewer' };

describe('status view', () => {
  it('judges each resource at the time given: protected, at risk when the RPO target is passed, unverified, down', () => {
    index = 0;
    const states = fold([
      ...verified('orders-db', 50),
      ...verified('stale-db', 10),
      entry('BackupCreated', aBackupCreatedData({ recoveryPoint: at(51) }), 51, 'new-db'),
      entry('FailoverTriggered', { ...aFailoverTriggeredData(), firstFailureAt: at(52), detectedAt: at(52) }, 52, 'ha-db'),
    ]);
    const view = statusView({ states, now: new Date(at(53)), targets: DEFAULT_SLO_TARGETS, head: null, risks: null, tracesUrl: null });
    const byName = Object.fromEntries(view.resources.map((r) => [r.resource, r]));
    expect(byName['orders-db']).toMatchObject({ condition: 'protected', rpoExposureMs: 3 * 60_000, reasons: [] });
    expect(byName['orders-db']!.newestVerified).toMatchObject({ recoveryPoint: at(50), ageMs: 3 * 60_000, compliant: true });
    expect(byName['stale-db']).toMatchObject({ condition: 'at-risk', rpoExposureMs: 43 * 60_000 });
    expect(byName['stale-db']!.reasons).toEqual(['newest verified recovery point is older than the RPO target']);
    expect(byName['new-db']).toMatchObject({ condition: 'unverified', rpoExposureMs: null, newestVerified: null });
    expect(byName['ha-db']).toMatchObject({ condition: 'down' });
    expect(view.resources.map((r) => r.resource)).toEqual(['ha-db', 'new-db', 'orders-db', 'stale-db']);
  });

  it('a high or critical risk makes a resource at risk; a medium or low one is listed but does not', () => {
    index = 0;
    const states = fold([...verified('orders-db', 50), ...verified('files', 50)]);
    const risk = (resource: string, severity: string) => ({ resource, rule: `rule-${severity}`, severity, detail: 'why', since: at(50) });
    const view = statusView({ states, now: new Date(at(51)), targets: DEFAULT_SLO_TARGETS, head: null, risks: [risk('orders-db', 'medium'), risk('files', 'high')], tracesUrl: null });
    const byName = Object.fromEntries(view.resources.map((r) => [r.resource, r]));
    expect(byName['orders-db']).toMatchObject({ condition: 'protected', reasons: [] });
    expect(byName['orders-db']!.risks).toHaveLength(1);
    expect(byName['files']).toMatchObject({ condition: 'at-risk', reasons: ['risk: rule-high (high)'] });
  });

  it('shows the newest verified recovery point, the last restore test and failovers', () => {
    index = 0;
    const states = fold([...verified('orders-db', 50, 4321), entry('FailoverCompleted', aFailoverCompletedData({ newPrimary: 'pg-b', rtoMs: 2500 } as any), 52, 'orders-db')]);
    const html = renderStatusPage(statusView({ states, now: new Date(at(55)), targets: DEFAULT_SLO_TARGETS, head: { treeSize: 3, timestamp: at(53) }, risks: null, tracesUrl: 'http://127.0.0.1:16686/search' }), caller, true);
    expect(html).toContain('data-resource="orders-db"');
    expect(html).toContain('4.3 s'); // restore test
    expect(html).toContain('→ pg-b in 2.5 s');
    expect(html).toContain('signed tree head over 3 entries');
    expect(html).toContain('href="http://127.0.0.1:16686/search"');
    // Per resource, Jaeger's search for its spans.
    expect(html).toContain('href="http://127.0.0.1:16686/search?service=backup&amp;tags=%7B%22continuity.resource%22%3A%22orders-db%22%7D"');
    expect(html).toContain('href="/audit/reports/continuity?format=html"');
    expect(html).not.toContain('class="risks"'); // no risk register: no section
    expect(html).toContain('<meta http-equiv="refresh" content="30">');
  });

  it('links traces per resource only for a Jaeger search page; another URL as it is', () => {
    expect(tracesLink('https://tempo.example/explore', 'orders-db')).toBe('https://tempo.example/explore');
    expect(new URL(tracesLink('http://localhost:16686/search', 'orders-db')).searchParams.get('tags')).toBe('{"continuity.resource":"orders-db"}');
  });

  it('renders open risks when the register provides them, and says when there are none', () => {
    const view = (risks: any) => statusView({ states: [], now: new Date(at(1)), targets: DEFAULT_SLO_TARGETS, head: null, risks, tracesUrl: null });
    expect(renderStatusPage(view([]), caller, true)).toContain('No open risks.');
    const html = renderStatusPage(view([{ resource: 'orders-db', rule: 'single-site', severity: 'high', detail: 'all copies in one site', since: at(0) }]), caller, true);
    expect(html).toMatch(/<section class="risks">.*single-site.*all copies in one site/s);
  });

  it('escapes every text that comes from an event (attack: markup in names, verdict reasons and risks)', () => {
    index = 0;
    const evil = '<script>alert(1)</script>';
    const b = aBackupCreatedData({ recoveryPoint: at(10) });
    const states = fold([
      entry('BackupCreated', b, 10, 'orders-db'),
      entry('IntegrityVerified', anIntegrityVerifiedData({ backupId: b.backupId, verdict: 'failed', reasons: [`copy "${evil}" <img src=x onerror=alert(2)>`] } as any), 11, 'orders-db'),
    ]);
    // A resource name cannot carry markup on the bus (ResourceSchema); the renderer escapes it anyway.
    states.push({ ...states[0]!, resource: evil });
    const html = renderStatusPage(
      statusView({ states, now: new Date(at(12)), targets: DEFAULT_SLO_TARGETS, head: null, risks: [{ resource: evil, rule: evil, severity: '"high"', detail: evil, since: at(1) }], tracesUrl: null }),
      { name: 'x"><script>', role: 'viewer' },
      true,
    );
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&lt;img src=x onerror=alert(2)&gt;');
    expect(html).toContain('href="/audit/resources/%3Cscript%3Ealert(1)%3C%2Fscript%3E/state"');
  });

  it('never writes a token back into the login page', () => {
    const html = renderLoginPage('That token is not known here.');
    expect(html).toContain('name="token" type="password"');
    expect(html).toContain('action="/session"');
    expect(html).not.toMatch(/value=/);
    expect(html).not.toContain('http-equiv="refresh"'); // a form being typed into is not reloaded
  });
});
