import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, IncomingMessage, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { ContinuityPublisher } from '@continuity/contracts';
import { aBackupFailedData, aFailoverAbandonedData, aFailoverTriggeredData, ownersPublisher } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil, readDeadLetters } from '@continuity/messaging/testing';
import { createTestDatabase, freePort } from '@continuity/runtime/testing';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySignature } from '../src/notifications/notification.format.js';
import { startAudit } from './harness.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  json: any;
}

/** A webhook receiver on loopback that records what it gets and answers `status`; stoppable and restartable on its port. */
const receiver = async (status: number) => {
  const port = await freePort();
  const got: Received[] = [];
  let server: Server | undefined;
  const start = () =>
    new Promise<void>((resolve) => {
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (chunk) => (body += chunk));
        req.on('end', () => {
          got.push({ headers: req.headers, body, json: JSON.parse(body) });
          res.writeHead(status).end();
        });
      });
      server.listen(port, '127.0.0.1', () => resolve());
    });
  const stop = () => new Promise<void>((resolve) => (server ? (server.closeAllConnections(), server.close(() => resolve())) : resolve()));
  await start();
  return { url: `http://127.0.0.1:${port}/hook`, got, start, stop };
};

describe('notifier (real NATS, PostgreSQL and HTTP receivers on loopback)', () => {
  const SECRET = 'a-webhook-secret-of-enough-length-0123456789';
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let audit: Awaited<ReturnType<typeof startAudit>>;
  let dir: string;
  let oncall: Awaited<ReturnType<typeof receiver>>;
  let strict: Awaited<ReturnType<typeof receiver>>;
  let publisher: ReturnType<typeof ownersPublisher>;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'ntf');
    db = await createTestDatabase('audit');
    dir = mkdtempSync(join(tmpdir(), 'continuity-notify-'));
    oncall = await receiver(204);
    strict = await receiver(400);
    const secretFile = join(dir, 'oncall.secret');
    writeFileSync(secretFile, `${SECRET}\n`);
    chmodSync(secretFile, 0o600);
    const file = join(dir, 'notifications.yaml');
    writeFileSync(
      file,
      [
        'channels:',
        `  oncall: { kind: webhook, url: '${oncall.url}', secretFile: ${secretFile}, timeoutMs: 2000 }`,
        `  strict: { kind: webhook, url: '${strict.url}', secretFile: ${secretFile} }`,
        'routes:',
        "  - { resources: ['orders-*'], channels: [oncall] }",
        "  - { resources: ['strict-db'], channels: [strict] }",
        'dedupWindowMs: 600000',
        'retry: { initialDelayMs: 100, maxDelayMs: 400 }',
      ].join('\n'),
    );
    audit = await startAudit(db.url, topology.namespace, { AUDIT_NOTIFICATIONS_FILE: file, LOG_LEVEL: process.env.NOTIFY_LOG ?? 'error' });
    publisher = ownersPublisher(jetstream(nc), { topology });
  });

  afterAll(async () => {
    await audit?.app.close();
    await oncall?.stop();
    await strict?.stop();
    await topology?.remove();
    await db?.drop();
    await nc?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const deliveredEvents = async (eventId: string) =>
    ((await audit.get(`/audit/events?type=NotificationDelivered&limit=500`)).body?.events ?? []).map((e: any) => e.envelope).filter((e: any) => e.data?.eventId === eventId);

  it('tells the routed channel once about a failover and a failed backup, signed; repeats and other resources are not told', async () => {
    const failover = aFailoverTriggeredData({ planned: false });
    // Each piece of news twice (the same failoverId re-announced; a second failure at the same
    // stage), handled concurrently: whichever is claimed first is told, the other suppressed.
    const failovers = [
      await publisher.publish('FailoverTriggered', { resource: 'orders-db', data: failover }).then((p) => p.event),
      await publisher.publish('FailoverTriggered', { resource: 'orders-db', data: failover }).then((p) => p.event),
    ];
    await publisher.publish('FailoverTriggered', { resource: 'billing-db', data: aFailoverTriggeredData() }); // no route
    const failures = [
      await publisher.publish('BackupFailed', { resource: 'orders-db', data: aBackupFailedData({ stage: 'copy' }) }).then((p) => p.event),
      await publisher.publish('BackupFailed', { resource: 'orders-db', data: aBackupFailedData({ stage: 'copy' }) }).then((p) => p.event),
    ];
    const deliveriesOf = async (events: { id: string }[]) => (await Promise.all(events.map((e) => deliveredEvents(e.id)))).flat();
    await pollUntil(async () => (await deliveriesOf(failovers)).length >= 1 && (await deliveriesOf(failures)).length >= 1, { timeoutMs: 20_000, what: 'both deliveries in the ledger' });
    // Give any duplicate the time to arrive before counting (the ledger already holds the deliveries).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await deliveriesOf(failovers)).toHaveLength(1);
    expect(await deliveriesOf(failures)).toHaveLength(1);
    expect(oncall.got.map((r) => [r.json.eventType, r.json.resource]).sort()).toEqual([
      ['BackupFailed', 'orders-db'],
      ['FailoverTriggered', 'orders-db'],
    ]);
    for (const request of oncall.got) {
      const timestamp = String(request.headers[TIMESTAMP_HEADER]);
      const signature = String(request.headers[SIGNATURE_HEADER]);
      expect(verifySignature(SECRET, timestamp, request.body, signature, Math.floor(Date.now() / 1000))).toBe(true);
      expect(verifySignature('not-the-secret', timestamp, request.body, signature, Math.floor(Date.now() / 1000))).toBe(false);
      expect(request.body).not.toContain(SECRET);
    }
    const [delivered] = await deliveriesOf(failovers);
    const told = failovers.find((e) => e.id === delivered.data.eventId)!;
    expect(delivered).toMatchObject({ source: 'audit', resource: 'orders-db', causationId: told.id, data: { channel: 'oncall', outcome: 'delivered', attempts: 1, httpStatus: 204 } });
    expect(JSON.stringify(delivered)).not.toContain(oncall.url);
    expect(oncall.got.find((r) => r.json.eventType === 'FailoverTriggered')!.json.eventId).toBe(told.id);
  }, 60_000);

  it('keeps a notification through a receiver outage and delivers it when the receiver is back', async () => {
    await oncall.stop();
    const before = oncall.got.length;
    const event = await publisher.publish('FailoverAbandoned', { resource: 'orders-files', data: aFailoverAbandonedData() }).then((p) => p.event);
    // Several attempts fail while it is down (connection refused), none reaches anyone.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(oncall.got.length).toBe(before);
    await oncall.start();
    await pollUntil(async () => (await deliveredEvents(event.id)).length === 1, { timeoutMs: 30_000, what: 'the delivery after the outage' });
    expect(oncall.got.filter((r) => r.json.eventId === event.id)).toHaveLength(1);
    const [delivered] = await deliveredEvents(event.id);
    expect(delivered.data.outcome).toBe('delivered');
    expect(delivered.data.attempts).toBeGreaterThan(1);
  }, 60_000);

  it('dead-letters a notification the channel refuses (HTTP 400), with the reason, and records the refusal', async () => {
    const event = await publisher.publish('BackupFailed', { resource: 'strict-db', data: aBackupFailedData() }).then((p) => p.event);
    const letter = await pollUntil(async () => (await readDeadLetters(nc, topology)).find((d) => d.consumer === 'audit_notify_BackupFailed' && JSON.parse(Buffer.from(d.payload).toString()).id === event.id), {
      timeoutMs: 20_000,
      what: 'the dead letter of the refused notification',
    });
    expect(letter.reason).toContain('permanent failure');
    expect(letter.reason).toContain('channel strict');
    expect(letter.reason).toContain('HTTP 400');
    expect(letter.reason).not.toContain(strict.url);
    expect(strict.got).toHaveLength(1); // refused for good: not retried
    const [refused] = await pollUntil(async () => {
      const found = await deliveredEvents(event.id);
      return found.length ? found : null;
    }, { what: 'the refusal in the ledger' });
    expect(refused.data).toMatchObject({ channel: 'strict', outcome: 'refused', httpStatus: 400, attempts: 1 });
  }, 60_000);

  it('never notifies a forged failover (a source that may not publish it): the ledger records it, nobody is paged', async () => {
    const forger = new ContinuityPublisher(jetstream(nc), { source: 'backup', topology });
    const forged = (await forger.publish('FailoverTriggered', { resource: 'orders-db', data: aFailoverTriggeredData({ planned: false }) })).event;
    await pollUntil(async () => (await audit.get(`/audit/events/${forged.id}`)).status === 200, { timeoutMs: 20_000, what: 'the forged event in the ledger' });
    // The notifier handles it at about the same time as the ledger: give it a moment to (not) call.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(oncall.got.filter((r) => r.json.eventId === forged.id)).toEqual([]);
    expect(await deliveredEvents(forged.id)).toEqual([]);
  }, 60_000);
});
