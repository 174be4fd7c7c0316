import type { NatsConnection } from '@nats-io/transport-node';
import { connectTestNats, pollUntil } from '@continuity/messaging/testing';
import { testRunId } from '@continuity/contracts/testing';
import { EpochRecord, FailoverStore } from '../src/coordination/failover-store.js';
import { LeaderLease } from '../src/coordination/leader-lease.js';
import type { RouteRecord } from '@continuity/contracts';

const TTL = 1000;

describe('failover coordination in JetStream KV (real NATS)', () => {
  let nc: NatsConnection;
  let namespace: string;
  let store: FailoverStore;
  const leases: LeaderLease[] = [];
  const lease = (id: string) => {
    const l = new LeaderLease(store.leases, 'leases.orders-db', id, { ttlMs: store.leaseTtlMs });
    leases.push(l);
    return l;
  };

  beforeAll(async () => {
    nc = await connectTestNats();
    namespace = testRunId('foc');
    store = await FailoverStore.open(nc, namespace, TTL);
  });

  afterEach(async () => {
    await Promise.all(leases.splice(0).map((l) => l.stop({ release: true })));
  });

  afterAll(async () => {
    await FailoverStore.remove(nc, namespace);
    await nc.close();
  });

  it('creates its buckets idempotently, keeping the lease TTL the bucket was made with', async () => {
    const again = await FailoverStore.open(nc, namespace, 5000);
    expect(again.leaseTtlMs).toBe(TTL);
  });

  it('gives the lease to exactly one instance, which keeps it by renewing past the TTL', async () => {
    const a = lease('a');
    const b = lease('b');
    a.start();
    await pollUntil(() => a.isLeader(), { what: 'a to lead' });
    b.start();
    const until = Date.now() + TTL * 2.5;
    while (Date.now() < until) {
      expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await b.holder()).toMatchObject({ holder: 'a' });
  });

  it('moves the lease within the TTL when the holder dies without releasing it', async () => {
    const a = lease('a');
    const b = lease('b');
    a.start();
    await pollUntil(() => a.isLeader(), { what: 'a to lead' });
    b.start();
    const diedAt = Date.now();
    await a.stop({ release: false }); // a crash: no delete, the key expires with the bucket TTL
    await pollUntil(() => b.isLeader(), { what: 'b to take over', timeoutMs: TTL * 3, intervalMs: 10 });
    // Expiry ≤ TTL after the last renewal, plus a TTL/6 retry; margin for a busy machine.
    expect(Date.now() - diedAt).toBeLessThan(TTL * 2);
  });

  it('hands the lease over at once when the holder releases it', async () => {
    const a = lease('a');
    const b = lease('b');
    a.start();
    await pollUntil(() => a.isLeader(), { what: 'a to lead' });
    b.start();
    const releasedAt = Date.now();
    await a.stop({ release: true });
    await pollUntil(() => b.isLeader(), { what: 'b to take over', timeoutMs: TTL * 3, intervalMs: 10 });
    expect(Date.now() - releasedAt).toBeLessThan(TTL); // well before the lease could have expired
  });

  it('takes each epoch once: a second taker of the same epoch loses the compare-and-set', async () => {
    const intent = (epoch: number, by: string): EpochRecord => ({ resource: 'epoch-db', epoch, from: 'pg-a', to: 'pg-b', planned: false, failoverId: `f-${epoch}-${by}`, takenAt: new Date().toISOString(), takenBy: by });
    const [x, y] = await Promise.all([store.takeEpoch(0, intent(1, 'x')), store.takeEpoch(0, intent(1, 'y'))]);
    expect([x.taken, y.taken].sort()).toEqual([false, true]);
    const loser = x.taken ? y : x;
    expect(loser).toMatchObject({ taken: false, current: { epoch: 1 } });
    expect(await store.takeEpoch(0, intent(1, 'z'))).toMatchObject({ taken: false, current: { epoch: 1 } });
    expect(await store.takeEpoch(1, intent(2, 'z'))).toMatchObject({ taken: true });
  });

  it('never replaces a route of a higher epoch', async () => {
    const route = (epoch: number, primary: string): RouteRecord => ({ resource: 'route-db', primary, url: `postgres://h/${primary}`, host: 'h', port: 5432, epoch, failoverId: null, updatedAt: new Date().toISOString(), updatedBy: 't', fenced: [] });
    expect(await store.writeRoute(route(2, 'pg-b'))).toMatchObject({ written: true });
    expect(await store.writeRoute(route(1, 'pg-a'))).toMatchObject({ written: false, current: { epoch: 2, primary: 'pg-b' } });
    expect(await store.writeRoute(route(2, 'pg-c'))).toMatchObject({ written: false });
    expect(await store.writeRoute(route(3, 'pg-c'))).toMatchObject({ written: true });
    expect((await store.readRoute('route-db'))?.record).toMatchObject({ epoch: 3, primary: 'pg-c' });
  });
});
