import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller, INestMicroservice, Module } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { ContinuityEvent, ContinuityPublisher, DEFAULT_TOPOLOGY } from '@continuity/contracts';
import { aBackupCreatedData, aFailoverTriggeredData, anIntegrityVerifiedData } from '@continuity/contracts/testing';
import {
  connectNats,
  ensureKvBucket,
  ensureObjectStore,
  ensureTopology,
  generateNatsAuth,
  JetStreamTransport,
  natsAuthOptions,
  OnEvent,
} from '../src/index.js';
import { NatsCluster, startNatsCluster } from '../src/nats-cluster.testing.js';
import { pollUntil, RethrowEventErrors, streamMessageCount } from '../src/testing.js';

/**
 * Issue 11, item 1: a `nats-server` of this test's own (never the machine's shared one) runs the
 * configuration `npm run nats:auth` generates from an identities file; each identity connects with
 * its own nkey and is refused what is not its own.
 */
const IDENTITIES = `
namespace: continuity
services:
  backup: { resources: [orders-db], objectStores: [offsite] }
  verifier: { objectStores: [offsite] }
publishers:
  - { name: billing, resources: [billing-db] }
`;

const received: string[] = [];

@Controller()
class VerifierListener {
  @OnEvent('BackupCreated')
  onBackupCreated(@Payload() event: ContinuityEvent<'BackupCreated'>) {
    received.push(event.data.backupId);
  }
}

@Module({ controllers: [VerifierListener] })
class VerifierModule {}

describe('NATS identities and permissions (own nats-server with the generated configuration)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'continuity-nats-auth-'));
  const generated = generateNatsAuth(IDENTITIES, join(dir, 'out'));
  const authOf = (identity: string) => natsAuthOptions({ NATS_NKEY_SEED_FILE: generated.seedFiles.get(identity)! });
  const topology = DEFAULT_TOPOLOGY;
  const stream = topology.eventStream;
  let cluster: NatsCluster;
  let admin: NatsConnection;
  const connections: NatsConnection[] = [];

  const as = async (identity: string) => {
    const nc = await connectNats(cluster.urls, authOf(identity), { name: identity, timeout: 3_000 });
    connections.push(nc);
    return nc;
  };
  const publisherAs = async (identity: string, source = identity) => new ContinuityPublisher(jetstream(await as(identity)), { source, topology, timeoutMs: 2_000 });
  const storedEvents = () => streamMessageCount(admin, stream);

  /** The publish is refused by the server, and nothing reaches the stream. */
  const expectRefused = async (attempt: Promise<unknown>) => {
    const before = await storedEvents();
    await expect(attempt).rejects.toThrow(/Permissions Violation for Publish|permission/i);
    expect(await storedEvents()).toBe(before);
  };

  it('writes one seed file per identity, readable by its owner only, and the publishers for the services', () => {
    expect([...generated.seedFiles.keys()].sort()).toEqual(['admin', 'audit', 'backup', 'billing', 'failover', 'verifier']);
    for (const file of generated.seedFiles.values()) expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(generated.publishersEnv).toBe('billing=billing-db');
  });

  describe('on a server running the generated configuration', () => {
    beforeAll(async () => {
      cluster = await startNatsCluster({ size: 1, extraConfig: readFileSync(generated.configFile, 'utf8'), auth: authOf('admin') });
      admin = await cluster.connect('admin');
      // The admin provisions; services only create what is missing and never change it.
      await ensureTopology(admin, topology);
    }, 60_000);

    afterAll(async () => {
      for (const nc of connections) await nc.close().catch(() => undefined);
      await admin?.close();
      await cluster?.remove();
      rmSync(dir, { recursive: true, force: true });
    });

    it('refuses a client without credentials', async () => {
      await expect(connectNats(cluster.urls, {}, { timeout: 3_000 })).rejects.toThrow(/Authorization Violation/i);
    });

    it('the verifier cannot publish FailoverTriggered or BackupCreated', async () => {
      const verifier = await publisherAs('verifier', 'failover');
      await expectRefused(verifier.publish('FailoverTriggered', { resource: 'orders-db', data: aFailoverTriggeredData() }));
      await expectRefused(verifier.publish('BackupCreated', { resource: 'orders-db', data: aBackupCreatedData() }));
    });

    it("an external publisher cannot publish BackupCreated for a resource not its own, nor IntegrityVerified; its own resource it can", async () => {
      const billing = await publisherAs('billing');
      await expectRefused(billing.publish('BackupCreated', { resource: 'orders-db', data: aBackupCreatedData() }));
      await expectRefused(billing.publish('IntegrityVerified', { resource: 'billing-db', data: anIntegrityVerifiedData() }));
      const before = await storedEvents();
      await billing.publish('BackupCreated', { resource: 'billing-db', data: aBackupCreatedData() });
      expect(await storedEvents()).toBe(before + 1);
    });

    it('backup publishes BackupCreated only for the resources it owns', async () => {
      const backup = await publisherAs('backup');
      await expectRefused(backup.publish('BackupCreated', { resource: 'billing-db', data: aBackupCreatedData() }));
      await expectRefused(backup.publish('IntegrityVerified', { resource: 'orders-db', data: anIntegrityVerifiedData() }));
    });

    it('nobody but failover writes routes or leases in the failover KV', async () => {
      const failoverNc = await as('failover');
      const kv = await ensureKvBucket(failoverNc, 'continuity_failover', { replicas: 1, history: 10 });
      const leases = await ensureKvBucket(failoverNc, 'continuity_failover_leases', { replicas: 1, history: 1, ttl: 10_000 });
      await kv.put('routes.orders-db', '{"primary":"pg-a"}');
      await leases.create('leases.orders-db', '{"holder":"failover-1"}');
      for (const identity of ['backup', 'verifier', 'audit', 'billing']) {
        const nc = await as(identity);
        // Opening the bucket may itself be refused (no stream info for this identity): either way, no write.
        const attempt = (async () => {
          const other = await new Kvm(nc).open('continuity_failover', { bindOnly: true } as never);
          await other.put('routes.orders-db', `{"primary":"${identity}-host"}`);
        })();
        await expect(attempt).rejects.toThrow(/Permissions Violation|permission/i);
        const leaseAttempt = (async () => {
          const other = await new Kvm(nc).open('continuity_failover_leases', { bindOnly: true } as never);
          await other.put('leases.orders-db', `{"holder":"${identity}"}`);
        })();
        await expect(leaseAttempt).rejects.toThrow(/Permissions Violation|permission/i);
      }
      expect((await kv.get('routes.orders-db'))?.string()).toBe('{"primary":"pg-a"}');
      expect((await leases.get('leases.orders-db'))?.string()).toBe('{"holder":"failover-1"}');
    });

    it('no service can delete or purge the event stream, nor delete an object-store bucket; the admin can', async () => {
      const backupNc = await as('backup');
      const store = await ensureObjectStore(backupNc, 'offsite', { replicas: 1 });
      await store.putBlob({ name: 'orders-db/a.dump' }, new TextEncoder().encode('dump'));
      for (const identity of ['backup', 'verifier', 'failover', 'audit', 'billing']) {
        const jsm = await jetstreamManager(await as(identity), { checkAPI: false });
        await expect(jsm.streams.delete(stream)).rejects.toThrow(/Permissions Violation|permission/i);
        await expect(jsm.streams.purge(stream)).rejects.toThrow(/Permissions Violation|permission/i);
        await expect(jsm.streams.update(stream, { max_age: 1_000_000_000 })).rejects.toThrow(/Permissions Violation|permission/i);
        await expect(new Objm(await as(identity)).open('offsite').then((os) => os.destroy())).rejects.toThrow(/Permissions Violation|permission/i);
      }
      expect((await (await jetstreamManager(admin)).streams.info(stream)).state.messages).toBeGreaterThan(0);
      expect(await (await new Objm(admin).open('offsite')).info('orders-db/a.dump')).toBeTruthy();
      // The admin may (here on a stream of its own: the event stream denies deletion to everyone).
      await (await jetstreamManager(admin)).streams.add({ name: 'SCRATCH', subjects: ['scratch.>'] });
      await (await jetstreamManager(admin)).streams.purge('SCRATCH');
      await (await jetstreamManager(admin)).streams.delete('SCRATCH');
      await (await new Objm(admin).open('offsite')).destroy();
    });

    it('each service consumes and acks with its own credentials: a BackupCreated from backup reaches the verifier', async () => {
      let app: INestMicroservice | undefined;
      try {
        const moduleRef = await Test.createTestingModule({ imports: [VerifierModule] }).compile();
        app = moduleRef.createNestMicroservice({
          strategy: new JetStreamTransport({ serviceName: 'verifier', servers: cluster.urls, auth: authOf('verifier'), topology, ackWaitMs: 2_000 }),
          logger: false,
        });
        app.useGlobalFilters(new RethrowEventErrors());
        await app.listen();
        const backup = await publisherAs('backup');
        const { event } = await backup.publish('BackupCreated', { resource: 'orders-db', data: aBackupCreatedData() });
        await pollUntil(async () => received.includes(event.data.backupId), { what: 'the verifier to receive the backup' });
        // Acked: nothing left pending on its durable consumer.
        await pollUntil(async () => {
          const info = await (await jetstreamManager(admin)).consumers.info(stream, 'verifier_BackupCreated');
          return info.num_ack_pending === 0 && info.num_pending === 0;
        }, { what: 'the message to be acked' });
      } finally {
        await app?.close();
      }
    });

    it('every service can start its transport (streams checked, consumers made) with its own credentials', async () => {
      for (const identity of ['backup', 'failover', 'audit'] as const) {
        const nc = await as(identity);
        await ensureTopology(nc, topology);
      }
    });
  });
});
