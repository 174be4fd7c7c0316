import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { ContinuityPublisher } from '@continuity/contracts';
import { aBackupCreatedData, anIntegrityVerifiedData, anSloRestoredData, ownersPublisher } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { createTestDatabase, TEST_TOKENS } from '@continuity/runtime/testing';
import { startAudit } from './harness.js';

const RPO_TARGET_MS = 5_000;
const EVALUATE_MS = 500;

const passedVerdict = (backup: ReturnType<typeof aBackupCreatedData>, bad: string[] = [], trigger: 'new' | 'scrub' = 'new') =>
  anIntegrityVerifiedData({
    backupId: backup.backupId,
    verdict: bad.length ? 'failed' : 'passed',
    trigger,
    copies: backup.copies.map((c) => ({ location: c.location, uri: c.uri, readable: true, sizeMatch: true, hashMatch: !bad.includes(c.location), actualSha256: c.sha256, durationMs: 3, mbPerSec: 90, error: null })),
    reasons: bad.map((l) => `copy at ${l}: hash mismatch`),
  });

describe('SLO breaches and the risk register (real NATS, PostgreSQL and time)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let audit: Awaited<ReturnType<typeof startAudit>>;
  let publisher: ReturnType<typeof ownersPublisher>;

  const events = async (type: string, resource: string) => (await audit.get(`/audit/events?type=${type}&resource=${resource}&limit=1000`)).body?.events ?? [];
  const verifiedBackup = async (resource: string) => {
    const backup = aBackupCreatedData({ recoveryPoint: new Date().toISOString() });
    await publisher.publish('BackupCreated', { resource, data: backup });
    await publisher.publish('IntegrityVerified', { resource, data: passedVerdict(backup) });
    return backup;
  };

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'slo');
    db = await createTestDatabase('audit');
    audit = await startAudit(db.url, topology.namespace, { AUDIT_RPO_TARGET_MS: String(RPO_TARGET_MS), AUDIT_EVALUATE_INTERVAL_MS: String(EVALUATE_MS) });
    publisher = ownersPublisher(jetstream(nc), { topology });
  });

  afterAll(async () => {
    await audit?.app.close();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
  });

  it('backups stop: SloBreached soon after RPO exposure crosses the target; the next verified backup: SloRestored', async () => {
    const first = await verifiedBackup('slo-db');
    const crossing = Date.parse(first.recoveryPoint) + RPO_TARGET_MS;
    const [breached] = await pollUntil(async () => {
      const found = await events('SloBreached', 'slo-db');
      return found.length ? found : null;
    }, { timeoutMs: 60_000, intervalMs: 200, what: 'SloBreached for slo-db' });
    const breach = breached.envelope;
    expect(breach.source).toBe('audit');
    expect(breach.data).toMatchObject({ kind: 'rpo', target: RPO_TARGET_MS, unit: 'ms', since: new Date(crossing).toISOString() });
    expect(breach.data.breachId).toBe(breach.id);
    // Never before the crossing; well within a minute after it (the emitter runs every 500 ms).
    const lateMs = Date.parse(breach.occurredAt) - crossing;
    expect(lateMs).toBeGreaterThanOrEqual(0);
    expect(lateMs).toBeLessThan(60_000);

    // A forged SloRestored from a source that may not publish it is recorded but does not close it.
    const forger = new ContinuityPublisher(jetstream(nc), { source: 'verifier', topology });
    await forger.publish('SloRestored', { resource: 'slo-db', data: anSloRestoredData({ breachId: breach.data.breachId }) });
    await pollUntil(async () => (await events('SloRestored', 'slo-db')).some((e: any) => e.untrusted), { what: 'the forged SloRestored recorded as untrusted' });
    const open = (await audit.get('/audit/resources')).body.resources.find((r: any) => r.resource === 'slo-db');
    expect(open.protectionNow.openSlo.rpo.id).toBe(breach.data.breachId);
    expect(open.protectionNow.rpoExposure.recoverableMs).toBeGreaterThan(RPO_TARGET_MS);
    const past = (await audit.get('/audit/resources/slo-db/state')).body;
    expect(past.assessment.protection.recoverableWindow).toEqual({ earliest: first.recoveryPoint, latest: first.recoveryPoint, walBased: false });
    expect(past.assessment.protection.rpoExposure.oneCopyMs).toBeGreaterThan(RPO_TARGET_MS);
    const exposition = await (await fetch(`${audit.base}/metrics`)).text();
    expect(exposition).toMatch(/continuity_rpo_exposure[^\n]*resource="slo-db"[^\n]* \d+/);

    await verifiedBackup('slo-db');
    const restored = await pollUntil(async () => (await events('SloRestored', 'slo-db')).find((e: any) => !e.untrusted), { timeoutMs: 30_000, intervalMs: 200, what: 'SloRestored for slo-db' });
    expect(restored.envelope.data).toMatchObject({ breachId: breach.data.breachId, kind: 'rpo', breachedAt: breach.data.since });
    expect(restored.envelope.data.measured).toBeLessThan(RPO_TARGET_MS);
    // One breach, announced once, although the emitter evaluated many times while it was open.
    expect((await events('SloBreached', 'slo-db')).filter((e: any) => e.envelope.data.breachId === breach.data.breachId)).toHaveLength(1);
  });

  it('a failed scrub withdraws 3-2-1 compliance and raises the risk, listed at GET /audit/risks', async () => {
    const backup = await verifiedBackup('scrub-db');
    await pollUntil(async () => (await audit.get('/audit/resources')).body.resources.find((r: any) => r.resource === 'scrub-db')?.lastVerified?.threeTwoOne.compliant, { what: 'a compliant verified backup' });
    expect((await events('RiskIdentified', 'scrub-db')).map((e: any) => e.envelope.data.rule)).not.toContain('three-two-one-lost');

    await publisher.publish('IntegrityVerified', { resource: 'scrub-db', data: passedVerdict(backup, ['offsite'], 'scrub') });
    const scrub = await pollUntil(async () => (await events('IntegrityVerified', 'scrub-db')).find((e: any) => e.envelope.data.trigger === 'scrub'), { what: 'the scrub in the ledger' });
    const risk = await pollUntil(async () => (await events('RiskIdentified', 'scrub-db')).find((e: any) => e.envelope.data.rule === 'three-two-one-lost'), { timeoutMs: 30_000, intervalMs: 200, what: 'RiskIdentified three-two-one-lost' });
    expect(risk.envelope.data).toMatchObject({ severity: 'critical', riskId: risk.envelope.id });
    expect(risk.envelope.data.evidence).toContain(scrub.eventId);
    const state = (await audit.get('/audit/resources')).body.resources.find((r: any) => r.resource === 'scrub-db');
    expect(state.lastVerified.threeTwoOne.compliant).toBe(false);

    // Listed for a viewer, with the id the ledger knows it by.
    const listed = await pollUntil(async () => {
      const { status, body } = await audit.get('/audit/risks?resource=scrub-db', TEST_TOKENS.viewer);
      expect(status).toBe(200);
      return body.risks.find((r: any) => r.rule === 'three-two-one-lost' && r.riskId);
    }, { what: 'the risk listed with its id' });
    expect(listed).toMatchObject({ resource: 'scrub-db', riskId: risk.envelope.data.riskId, mitigation: expect.stringContaining('new backup') });
    expect((await audit.get('/audit/risks?severity=critical', TEST_TOKENS.viewer)).body.risks.every((r: any) => r.severity === 'critical')).toBe(true);

    // Refused: no token, a bad filter.
    expect((await audit.get('/audit/risks', null)).status).toBe(401);
    expect((await audit.get('/audit/risks?severity=apocalyptic', TEST_TOKENS.viewer)).status).toBe(400);
    expect((await audit.get('/audit/risks?resource=..%2Fetc', TEST_TOKENS.viewer)).status).toBe(400);

    // The report leads with the risks and the estate.
    const report = await audit.get(`/audit/reports/continuity?from=${new Date(Date.now() - 3_600_000).toISOString()}`);
    expect(report.body.estate.rows.find((r: any) => r.resource === 'scrub-db')).toMatchObject({ status: expect.stringMatching(/breached|at-risk/) });
    expect(report.body.estate.risks.some((r: any) => r.resource === 'scrub-db' && r.rule === 'three-two-one-lost')).toBe(true);
  });

  it('a restarted instance announces nothing again: what is open is read from the ledger, and ids are derived', async () => {
    const restart = () => startAudit(db.url, topology.namespace, { AUDIT_RPO_TARGET_MS: String(RPO_TARGET_MS), AUDIT_EVALUATE_INTERVAL_MS: String(EVALUATE_MS) });
    await audit.app.close();
    audit = await restart();
    // Two passes of the new emitter seen to finish (they never overlap): the first evaluated every resource.
    for (const resource of ['fresh-1-db', 'fresh-2-db']) {
      await publisher.publish('BackupCreated', { resource, data: aBackupCreatedData() });
      await pollUntil(async () => (await events('RiskIdentified', resource)).length > 0, { timeoutMs: 30_000, intervalMs: 200, what: `the restarted emitter evaluating ${resource}` });
    }
    // Each finding is announced once per time it opens: at most one more than it was ended.
    for (const resource of ['slo-db', 'scrub-db']) {
      const trusted = async (type: string) => (await events(type, resource)).filter((e: any) => !e.untrusted).map((e: any) => e.envelope.data);
      const identified = await trusted('RiskIdentified');
      const resolved = await trusted('RiskResolved');
      for (const rule of new Set(identified.map((r: any) => r.rule))) {
        expect(identified.filter((r: any) => r.rule === rule).length - resolved.filter((r: any) => r.rule === rule).length).toBeLessThanOrEqual(1);
      }
      const breached = await trusted('SloBreached');
      const restored = await trusted('SloRestored');
      for (const kind of new Set(breached.map((b: any) => b.kind))) {
        expect(breached.filter((b: any) => b.kind === kind).length - restored.filter((b: any) => b.kind === kind).length).toBeLessThanOrEqual(1);
      }
    }
  });
});
