import type { NatsConnection } from '@nats-io/transport-node';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { parseLsn } from '../src/probing/lsn.js';
import { configYaml, eventsOf, startFailover, writeConfig, removeFailoverTest } from './harness.js';
import { createPgCluster, PgCluster } from './pg-cluster.js';

const LIMIT = 64 * 1024;

describe('a standby beyond the lag limit (real replication)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let cluster: PgCluster;
  let config: ReturnType<typeof writeConfig>;
  let service: Awaited<ReturnType<typeof startFailover>>;
  let stoppedReceiver: number | null = null;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'fol');
    cluster = await createPgCluster({ standbys: 1 });
    config = writeConfig(configYaml(cluster, { maxLagBytes: LIMIT }));
    service = await startFailover(topology.namespace, config.file, { FAILOVER_INSTANCE_ID: 'lag' });
    await pollUntil(async () => (await service.get('/failover/orders-db/primary')).status === 200, { what: 'the initial route' });
  }, 60_000);

  afterAll(async () => {
    if (stoppedReceiver !== null) process.kill(stoppedReceiver, 'SIGCONT');
    await removeFailoverTest({ stopService: () => service?.app.close(), cluster, config, nc, topology });
  });

  it('is not promoted when the primary dies, and FailoverTriggered says why', async () => {
    const a = cluster.primary;
    const b = cluster.node('pg-b');
    // The standby stops receiving WAL (its WAL receiver is stopped) while the primary writes ~2 MB.
    stoppedReceiver = await b.walReceiverPid();
    expect(stoppedReceiver).not.toBeNull();
    process.kill(stoppedReceiver!, 'SIGSTOP');
    await a.insertRows(20_000, 'not-yet-replicated');
    const written = parseLsn(await a.currentLsn());
    // The service has seen the primary's new position (that is what lag is measured against).
    await pollUntil(async () => {
      const obs = (await service.get('/failover/orders-db')).body.members.find((m: any) => m.name === 'pg-a').observation;
      return obs?.currentLsn && parseLsn(obs.currentLsn) >= written;
    }, { what: 'a probe of pg-a after the writes' });

    a.kill9();
    const [triggered] = await pollUntil(async () => {
      const all = await eventsOf(nc, topology.eventStream, 'FailoverTriggered');
      return all.length ? all : null;
    }, { what: 'FailoverTriggered (no candidate)', timeoutMs: 10_000 });
    expect(triggered!.data).toMatchObject({
      fromInstance: 'pg-a',
      toInstance: null,
      planned: false,
      epoch: 0,
      candidates: [{ instance: 'pg-b', eligible: false, lagBytes: expect.any(Number), reason: expect.stringMatching(new RegExp(`^lag \\d+ bytes exceeds limit ${LIMIT}$`)) }],
    });
    const [candidate] = triggered!.data.candidates;
    expect(candidate!.lagBytes!).toBeGreaterThan(LIMIT);
    // The lag is measured against the primary's last known position, which is in the event.
    expect(triggered!.data.primaryLsn).not.toBeNull();
    expect(parseLsn(triggered!.data.primaryLsn!)).toBeGreaterThanOrEqual(written);
    expect(Number(parseLsn(triggered!.data.primaryLsn!) - parseLsn(candidate!.lsn!))).toBe(candidate!.lagBytes);
    expect(triggered!.data.reason).toMatch(/^primary pg-a failed 3 consecutive probes .*; no eligible standby \(pg-b: lag \d+ bytes exceeds limit 65536\); nothing promoted$/);
    expect(triggered!.data.decidedBy).toBe('lag');
    // Observations: the failed primary's probes, and the standby reachable but behind.
    const observations = triggered!.data.observations!;
    expect(observations.filter((o) => o.member === 'pg-a').map((o) => o.reachable)).toEqual([false, false, false]);
    expect(observations.filter((o) => o.member === 'pg-b')).toEqual([expect.objectContaining({ reachable: true, inRecovery: true, receiveLsn: candidate!.lsn })]);

    // Nothing promoted, nothing re-routed, and the fact is published once per outage.
    const reportedAt = Date.now();
    await pollUntil(async () => Date.parse((await service.get('/failover/orders-db')).body.members[1].observation.at) > reportedAt + 1_000, { what: 'two more rounds' });
    expect(await b.isInRecovery()).toBe(true);
    expect((await service.get('/failover/orders-db/primary')).body).toMatchObject({ primary: 'pg-a', epoch: 0 });
    expect(await eventsOf(nc, topology.eventStream, 'FailoverTriggered')).toHaveLength(1);
    expect(await eventsOf(nc, topology.eventStream, 'FailoverCompleted')).toEqual([]);
  });
});
