import type { NatsConnection } from '@nats-io/transport-node';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { parseLsn } from '../src/probing/lsn.js';
import { currentPrimary, watchPrimary } from '@continuity/contracts';
import type { RouteRecord } from '@continuity/contracts';
import { configYaml, eventsOf, startFailover, writeConfig, removeFailoverTest } from './harness.js';
import { createPgCluster, PgCluster } from './pg-cluster.js';

/**
 * One primary (pg-a) and one streaming standby (pg-b), watched by one failover instance, through
 * a life: a stall that is not a failure, a crash and failover, the old primary's return (fenced),
 * its rebuild as a standby, and a planned switchover back to it under write load.
 */
describe('failover of a real PostgreSQL primary (one instance)', () => {
  let nc: NatsConnection;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let cluster: PgCluster;
  let config: ReturnType<typeof writeConfig>;
  let service: Awaited<ReturnType<typeof startFailover>>;
  let routes: RouteRecord[];
  let watch: ReturnType<typeof watchPrimary>;

  const events = <T extends Parameters<typeof eventsOf>[2]>(type: T) => eventsOf(nc, topology.eventStream, type);
  const status = async () => (await service.get('/failover/orders-db')).body;

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'fo');
    cluster = await createPgCluster({ standbys: 1 });
    config = writeConfig(configYaml(cluster));
    service = await startFailover(topology.namespace, config.file, { FAILOVER_INSTANCE_ID: 'solo' });
    // The route appears once the configured primary has answered as a primary.
    await pollUntil(async () => (await service.get('/failover/orders-db/primary')).status === 200, { what: 'the initial route', timeoutMs: 10_000 });
    routes = [];
    watch = watchPrimary(nc, 'orders-db', { namespace: topology.namespace });
    void (async () => {
      for await (const route of watch) routes.push(route);
    })();
  }, 60_000);

  afterAll(async () => {
    watch?.stop();
    await removeFailoverTest({ stopService: () => service?.app.close(), cluster, config, nc, topology });
  });

  it('routes to the configured primary at epoch 0 and tells clients through watchPrimary', async () => {
    const { status: code, body } = await service.get('/failover/orders-db/primary');
    expect(code).toBe(200);
    expect(body).toMatchObject({ resource: 'orders-db', primary: 'pg-a', epoch: 0, port: cluster.primary.port, url: cluster.primary.url, fenced: [] });
    await pollUntil(() => routes.length > 0, { what: 'watchPrimary to yield the route' });
    expect(routes[0]).toMatchObject({ primary: 'pg-a', epoch: 0 });
    expect((await service.get('/failover/orders-db/primary?member=pg-b')).status).toBe(503);
    expect((await service.get('/failover/nope/primary')).status).toBe(503);
    expect(await status()).toMatchObject({ leader: true, primary: 'pg-a', epoch: 0, leaseHolder: 'solo' });
  });

  it('does not fail over for a stall shorter than the threshold (SIGSTOP … SIGCONT)', async () => {
    const stalledAt = Date.now();
    cluster.primary.pause();
    try {
      // Noticed: at least one failed probe…
      await pollUntil(async () => (await status()).consecutiveFailures >= 1, { what: 'a failed probe during the stall', timeoutMs: 3_000, intervalMs: 20 });
    } finally {
      // …but over before the third: the stall ends as soon as one probe has timed out (≈ 0.5–1 s).
      const stalledFor = Date.now() - stalledAt;
      cluster.primary.resume();
      expect(stalledFor).toBeLessThan(3 * 500); // shorter than the threshold: 3 probes, 500 ms apart
    }
    const resumedAt = Date.now();
    // Healthy again, and several more rounds pass without a decision.
    await pollUntil(
      async () => {
        const s = await status();
        const a = s.members.find((m: any) => m.name === 'pg-a').observation;
        return s.consecutiveFailures === 0 && Date.parse(a.at) > resumedAt + 1_000 && a.reachable;
      },
      { what: 'pg-a probed healthy for a second after SIGCONT', timeoutMs: 5_000 },
    );
    expect(await status()).toMatchObject({ primary: 'pg-a', epoch: 0, failoverInProgress: null });
    expect(await events('FailoverTriggered')).toEqual([]);
    expect(await cluster.node('pg-b').isInRecovery()).toBe(true);
  });

  it('promotes the standby when the primary is killed: writable, routed, both events, RTO < 10 s, replicated rows kept', async () => {
    const rows = await cluster.primary.insertRows(500, 'before-kill');
    await cluster.node('pg-b').waitForReplay(await cluster.primary.currentLsn());
    const killedAt = Date.now();
    cluster.primary.kill9();

    const route = await pollUntil(async () => {
      const { status: code, body } = await service.get('/failover/orders-db/primary');
      return code === 200 && body.epoch === 1 ? (body as RouteRecord) : null;
    }, { what: 'the route to move to pg-b', timeoutMs: 10_000, intervalMs: 20 });
    const observedRto = Date.now() - killedAt;
    expect(route).toMatchObject({ primary: 'pg-b', epoch: 1, port: cluster.node('pg-b').port, fenced: [{ member: 'pg-a', formerEpoch: 0, cause: 'failover' }] });
    expect(observedRto).toBeLessThan(10_000);

    // Writable, and every replicated row is there.
    const b = cluster.node('pg-b');
    expect(await b.isInRecovery()).toBe(false);
    await b.insertRows(1, 'after-failover');
    expect(await b.readRowIds()).toEqual(expect.arrayContaining(rows));

    const [triggered] = await events('FailoverTriggered');
    expect(triggered).toMatchObject({
      resource: 'orders-db',
      source: 'failover',
      data: { fromInstance: 'pg-a', toInstance: 'pg-b', planned: false, epoch: 1, candidates: [{ instance: 'pg-b', eligible: true, lagBytes: 0 }] },
    });
    // The reason is a short sentence; what the decision rested on is data.
    expect(triggered!.data.reason).toMatch(/^primary pg-a failed 3 consecutive probes \(threshold 3; last: .*ECONNREFUSED.*\); promoting pg-b \(lag 0 bytes, limit 16777216\)$/);
    const { observations, decidedBy, lastHealthyAt, primaryLsn, firstFailureAt, candidates } = triggered!.data;
    expect(decidedBy).toBe('solo');
    // The primary's three failed probes, the first of them the first failure, after its last healthy probe.
    const failedProbes = observations!.filter((o) => o.member === 'pg-a');
    expect(failedProbes).toHaveLength(3);
    for (const probe of failedProbes) expect(probe).toMatchObject({ reachable: false, inRecovery: null, currentLsn: null, error: expect.any(String) });
    expect(failedProbes[2]!.error).toMatch(/ECONNREFUSED/);
    expect(failedProbes[0]!.at).toBe(firstFailureAt);
    expect(Date.parse(lastHealthyAt!)).toBeLessThan(Date.parse(firstFailureAt!));
    expect(Date.parse(lastHealthyAt!)).toBeGreaterThan(killedAt - 2_000);
    // The candidate as probed: a reachable standby that had received all of the primary's last known WAL.
    const standby = observations!.filter((o) => o.member === 'pg-b');
    expect(standby).toEqual([expect.objectContaining({ reachable: true, inRecovery: true, error: null, receiveLsn: candidates[0]!.lsn })]);
    expect(parseLsn(standby[0]!.receiveLsn!)).toBeGreaterThanOrEqual(parseLsn(primaryLsn!));
    const completed = await pollUntil(async () => (await events('FailoverCompleted'))[0], { what: 'FailoverCompleted' });
    expect(completed).toMatchObject({
      resource: 'orders-db',
      version: 2,
      causationId: triggered!.id,
      correlationId: triggered!.correlationId,
      data: { failoverId: triggered!.data.failoverId, newPrimary: 'pg-b', epoch: 1, replicationLagBytes: 0, planned: false, fromInstance: 'pg-a', decidedBy: 'solo' },
    });
    expect(await events('FailoverAbandoned')).toEqual([]);
    const { timeline, rtoMs } = completed.data;
    const times = [timeline.firstFailureAt!, timeline.detectedAt, timeline.decidedAt, timeline.promotedAt, timeline.writableAt, timeline.routedAt].map(Date.parse);
    expect([...times].sort((x, y) => x - y)).toEqual(times);
    expect(rtoMs).toBe(times[5]! - times[0]!);
    expect(rtoMs).toBeLessThan(10_000);
    expect(times[0]).toBeGreaterThanOrEqual(killedAt - 5); // the first failed probe came after the kill

    // Clients following watchPrimary saw the change.
    await pollUntil(() => routes.some((r) => r.epoch === 1 && r.primary === 'pg-b'), { what: 'watchPrimary to yield epoch 1' });
    expect(await currentPrimary(nc, 'orders-db', { namespace: topology.namespace })).toMatchObject({ primary: 'pg-b', epoch: 1 });
  });

  it('fences the old primary when it comes back: never routed to, ResourceDegraded, read-only', async () => {
    const a = cluster.node('pg-a');
    await a.start(); // comes back as a primary of the old timeline: a split brain if anything reached it
    const degraded = await pollUntil(async () => (await events('ResourceDegraded'))[0], { what: 'ResourceDegraded for pg-a', timeoutMs: 10_000 });
    expect(degraded).toMatchObject({ resource: 'orders-db', data: { member: 'pg-a', formerEpoch: 0, currentEpoch: 1, needs: 'rebuild', madeReadOnly: true } });
    expect(degraded.data.reason).toMatch(/former primary of epoch 0 came back and accepts writes/);

    expect(await a.query("select current_setting('default_transaction_read_only') as v")).toEqual([{ v: 'on' }]);
    await expect(a.insertRows(1, 'split-brain')).rejects.toThrow(/read-only transaction/);
    const route = (await service.get('/failover/orders-db/primary')).body;
    expect(route).toMatchObject({ primary: 'pg-b', epoch: 1 });
    expect((await service.get('/failover/orders-db/primary?member=pg-a')).status).toBe(503);
    expect(routes.every((r) => r.epoch === 0 || r.primary === 'pg-b')).toBe(true);
    // Once per reappearance: a further round publishes nothing new.
    const fencedAt = Date.now();
    await pollUntil(async () => Date.parse((await status()).members.find((m: any) => m.name === 'pg-a').observation.at) > fencedAt + 600, { what: 'two more rounds' });
    expect(await events('ResourceDegraded')).toHaveLength(1);
  });

  it('refuses a switchover to the fenced member, naming why', async () => {
    const res = await service.post('/failover/orders-db/switchover', { to: 'pg-a' });
    expect(res).toMatchObject({ status: 409, body: { code: 'SWITCHOVER.TARGET_NOT_ELIGIBLE', message: expect.stringContaining('fenced: former primary of epoch 0') } });
    expect((await service.post('/failover/orders-db/switchover', { to: 'pg-z' })).body).toMatchObject({ code: 'SWITCHOVER.UNKNOWN_MEMBER' });
    expect((await service.post('/failover/orders-db/switchover', {})).status).toBe(400);
    expect((await service.post('/failover/nope/switchover', { to: 'pg-a' })).status).toBe(404);
  });

  it('takes a rebuilt former primary back as a standby, then switches over to it under write load without losing a committed row', async () => {
    const a = cluster.node('pg-a');
    const b = cluster.node('pg-b');
    expect((await service.post('/failover/orders-db/members/pg-a/rebuilt')).body).toMatchObject({ code: 'FAILOVER.MEMBER_NOT_STANDBY' });
    await cluster.rebuild(a, b);
    const rebuilt = await service.post('/failover/orders-db/members/pg-a/rebuilt');
    expect(rebuilt).toMatchObject({ status: 200, body: { primary: 'pg-b', epoch: 1, fenced: [] } });

    // A client writes continuously to whatever the route says is primary, keeping every id whose commit it saw.
    const committed: number[] = [];
    let writing = true;
    let failedWrites = 0;
    const writer = (async () => {
      while (writing) {
        const route = routes[routes.length - 1]!;
        const node = cluster.nodes.find((n) => n.port === route.port)!;
        try {
          committed.push(...(await node.insertRows(1, 'during-switchover')));
        } catch {
          failedWrites++; // read-only or terminated during the handover: not committed, so nothing to lose
        }
      }
    })();
    await pollUntil(() => committed.length >= 20, { what: 'the writer to commit some rows' });

    const res = await service.post('/failover/orders-db/switchover', { to: 'pg-a' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ from: 'pg-b', to: 'pg-a', epoch: 2, planned: true, replicationLagBytes: 0 });
    await pollUntil(() => routes.some((r) => r.epoch === 2), { what: 'watchPrimary to yield epoch 2' });
    const before = committed.length;
    await pollUntil(() => committed.length >= before + 20, { what: 'writes on the new primary' });
    writing = false;
    await writer;

    const onNewPrimary = new Set(await a.readRowIds());
    const lost = committed.filter((id) => !onNewPrimary.has(id));
    expect(lost).toEqual([]);
    expect(await a.isInRecovery()).toBe(false);
    // Fenced while it was down and rebuilt, but a primary again now: sessions write by default.
    expect(await a.query("select current_setting('default_transaction_read_only') as v")).toEqual([{ v: 'off' }]);
    expect((await service.get('/failover/orders-db/primary')).body).toMatchObject({ primary: 'pg-a', epoch: 2, fenced: [{ member: 'pg-b', formerEpoch: 1, cause: 'switchover' }] });

    const planned = (await events('FailoverTriggered')).find((e) => e.data.planned)!;
    expect(planned.data).toMatchObject({ fromInstance: 'pg-b', toInstance: 'pg-a', epoch: 2, firstFailureAt: null, decidedBy: 'solo', lastHealthyAt: expect.any(String) });
    // A healthy primary and a standby: each member's latest probe.
    expect(planned.data.observations!.map((o) => [o.member, o.reachable, o.inRecovery])).toEqual([
      ['pg-a', true, true],
      ['pg-b', true, false],
    ]);
    expect(planned.data.reason).toMatch(new RegExp(`^planned switchover pg-b → pg-a requested; .*at least ${planned.data.primaryLsn}\\)$`));
    const done = await pollUntil(async () => (await events('FailoverCompleted')).find((e) => e.data.epoch === 2), { what: 'FailoverCompleted of the switchover' });
    expect(done.data).toMatchObject({ planned: true, fromInstance: 'pg-b', newPrimary: 'pg-a', decidedBy: 'solo' });
    expect(done.data.timeline.firstFailureAt).toBeNull();
    expect(await events('FailoverAbandoned')).toEqual([]);
    // The demoted primary is fenced too (it is read-only and on the old timeline: it needs a rewind).
    const degraded = await pollUntil(async () => (await events('ResourceDegraded')).find((e) => e.data.member === 'pg-b'), { what: 'ResourceDegraded for pg-b' });
    expect(degraded.data).toMatchObject({ formerEpoch: 1, currentEpoch: 2, needs: 'rewind', madeReadOnly: true });
  }, 30_000);
});
