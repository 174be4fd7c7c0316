import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { configYaml, eventsOf, removeFailoverTest, type ResourceOptions, startFailover, writeConfig } from './harness.js';
import { createPgCluster, PG_BIN, PgCluster, type PgNode } from './pg-cluster.js';

/*
 * Fencing that holds: a former primary refuses application roles' connections (so switching
 * default_transaction_read_only off for a session is no way round it) until it is rebuilt, and a
 * failed primary's configured fence command runs once per failover, before the promotion, with its
 * outcome in FailoverTriggered.
 */

const APP = { role: 'app_writer', password: 'app-pw-1' };

/** One real cluster (pg-a primary, pg-b standby), one failover instance, a temp folder for fence scripts. */
const setUp = async (fence: (dir: string, cluster: PgCluster) => ResourceOptions['fence']) => {
  const nc = await connectTestNats();
  const topology = await createTestTopology(nc, 'fence');
  const cluster = await createPgCluster({ standbys: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'continuity-fence-test-'));
  const config = writeConfig(configYaml(cluster, { fence: fence(dir, cluster) }));
  const service = await startFailover(topology.namespace, config.file, { FAILOVER_INSTANCE_ID: 'fencer' });
  await pollUntil(async () => (await service.get('/failover/orders-db/primary')).status === 200, { what: 'the initial route', timeoutMs: 10_000 });
  return {
    nc,
    topology,
    cluster,
    dir,
    service,
    events: <T extends Parameters<typeof eventsOf>[2]>(type: T) => eventsOf(nc, topology.eventStream, type),
    remove: async () => {
      await removeFailoverTest({ stopService: () => service.app.close(), cluster, config, nc, topology });
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

/** A fence script that appends one block per run to `log` (its arguments, its environment, whether pg-b was still a standby) and then runs `then`. */
const fenceScript = (dir: string, cluster: PgCluster, then: string) => {
  const file = join(dir, 'stonith.sh');
  const log = join(dir, 'invocations.log');
  const psql = join(PG_BIN, 'psql');
  writeFileSync(
    file,
    [
      '#!/bin/sh',
      '{',
      '  echo "--- invocation"',
      '  for a in "$@"; do echo "arg=$a"; done',
      "  env | grep '^CONTINUITY_' | sort",
      "  echo \"env_names=$(env | cut -d= -f1 | sort | tr '\\n' ' ')\"",
      `  echo "standby_in_recovery=$(${psql} -h 127.0.0.1 -p ${cluster.node('pg-b').port} -U postgres -d postgres -Atc 'select pg_is_in_recovery()')"`,
      `} >> ${log}`,
      then,
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o755);
  const invocations = () =>
    (existsSync(log) ? readFileSync(log, 'utf8') : '')
      .split('--- invocation\n')
      .slice(1)
      .map((block) => {
        const lines = block.trim().split('\n');
        const value = (key: string) => lines.find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);
        return { args: lines.filter((l) => l.startsWith('arg=')).map((l) => l.slice(4)), value };
      });
  return { file, invocations };
};

/** As an application would: its own role, `SET default_transaction_read_only = off`, then a write. What happened. */
const appWrites = async (node: PgNode, note: string): Promise<string> => {
  const client = new Client({ connectionString: `postgres://${APP.role}:${APP.password}@127.0.0.1:${node.port}/postgres`, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('set default_transaction_read_only = off');
    await client.query('insert into items (note) values ($1)', [note]);
    return 'written';
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
};

const rowsNoted = async (node: PgNode, note: string) => Number((await node.query<{ n: string }>('select count(*) as n from items where note = $1', [note]))[0]!.n);

/** The rounds of probing that follow `since` (a fixed sleep would only guess at them). */
const roundsAfter = async (service: Awaited<ReturnType<typeof startFailover>>, member: string, since: number) =>
  pollUntil(async () => Date.parse((await service.get('/failover/orders-db')).body.members.find((m: any) => m.name === member).observation.at) > since + 1_200, {
    what: `more rounds probing ${member}`,
  });

describe('fencing a former primary, and its fence command', () => {
  let t: Awaited<ReturnType<typeof setUp>>;
  let script: ReturnType<typeof fenceScript>;
  let marker: string;

  beforeAll(async () => {
    t = await setUp((dir, cluster) => {
      marker = join(dir, 'marker');
      script = fenceScript(dir, cluster, 'echo "powered off $CONTINUITY_MEMBER (controller postgres://fence:s3cret@10.9.9.9/)"');
      return { 'pg-a': { command: [script.file, '--node', 'db-a', `--note=x; touch ${marker}`, 'postgres://fence:s3cret@10.9.9.9/'], timeoutMs: 10_000 } };
    });
    const a = t.cluster.primary;
    await a.insertRows(1, 'setup');
    await a.query(`create role ${APP.role} login password '${APP.password}'`);
    await a.query(`grant select, insert on items to ${APP.role}; grant usage on sequence items_id_seq to ${APP.role}`);
  }, 60_000);

  afterAll(() => t?.remove());

  it('runs the failed primary\'s fence command once, before promoting, and publishes its outcome in FailoverTriggered', async () => {
    const a = t.cluster.primary;
    expect(await appWrites(a, 'before-failover')).toBe('written'); // the role can write while pg-a is primary
    await t.cluster.node('pg-b').waitForReplay(await a.currentLsn());
    a.kill9();
    await pollUntil(async () => (await t.service.get('/failover/orders-db/primary')).body?.epoch === 1, { what: 'the route to move to pg-b', timeoutMs: 15_000 });

    const [triggered] = await t.events('FailoverTriggered');
    expect(triggered).toMatchObject({ version: 3, data: { fromInstance: 'pg-a', toInstance: 'pg-b', epoch: 1 } });
    expect(triggered!.data.fence).toEqual({
      member: 'pg-a',
      command: [script.file, '--node', 'db-a', `--note=x; touch ${marker}`, 'postgres://fence:***@10.9.9.9/'],
      ran: true,
      epoch: 1,
      outcome: 'succeeded',
      exitCode: 0,
      signal: null,
      startedAt: expect.any(String),
      durationMs: expect.any(Number),
      required: false,
      output: 'powered off pg-a (controller postgres://fence:***@10.9.9.9/)',
    });
    expect(triggered!.data.reason).toMatch(/; pg-a fenced: its fence command for pg-a succeeded \(exit 0\) in \d+ ms$/);
    expect(JSON.stringify(triggered)).not.toContain('s3cret');

    const runs = script.invocations();
    expect(runs).toHaveLength(1);
    const [run] = runs;
    // Every argument as configured, none interpreted by a shell.
    expect(run!.args).toEqual(['--node', 'db-a', `--note=x; touch ${marker}`, 'postgres://fence:s3cret@10.9.9.9/']);
    expect(existsSync(marker)).toBe(false);
    expect(run!.value('standby_in_recovery')).toBe('t'); // before the promotion
    expect(run!.value('CONTINUITY_RESOURCE')).toBe('orders-db');
    expect(run!.value('CONTINUITY_MEMBER')).toBe('pg-a');
    expect(run!.value('CONTINUITY_MEMBER_PORT')).toBe(String(a.port));
    expect(run!.value('CONTINUITY_NEW_PRIMARY')).toBe('pg-b');
    expect(run!.value('CONTINUITY_EPOCH')).toBe('1');
    expect(run!.value('CONTINUITY_FAILOVER_ID')).toBe(triggered!.data.failoverId);
    expect(run!.value('env_names')!.split(' ')).not.toContain('NATS_URL');

    const completed = await pollUntil(async () => (await t.events('FailoverCompleted'))[0], { what: 'FailoverCompleted' });
    expect(Date.parse(triggered!.data.fence!.startedAt)).toBeLessThan(Date.parse(completed.data.timeline.promotedAt));
  });

  it('refuses the application role on the returning former primary, even with default_transaction_read_only off; the service still probes it', async () => {
    const a = t.cluster.node('pg-a');
    await a.start();
    const degraded = await pollUntil(async () => (await t.events('ResourceDegraded'))[0], { what: 'ResourceDegraded for pg-a', timeoutMs: 10_000 });
    expect(degraded.data).toMatchObject({ member: 'pg-a', madeReadOnly: true });
    expect(degraded.data.reason).toContain(`application connections refused (pg_hba.conf reject rules for ${APP.role})`);

    expect(await appWrites(a, 'split-brain')).toMatch(/pg_hba\.conf rejects connection for host "127\.0\.0\.1", user "app_writer"/);
    expect(await rowsNoted(a, 'split-brain')).toBe(0);
    const fencedAt = Date.now();
    await roundsAfter(t.service, 'pg-a', fencedAt);
    const seen = (await t.service.get('/failover/orders-db')).body.members.find((m: any) => m.name === 'pg-a').observation;
    expect(seen).toMatchObject({ reachable: true, inRecovery: false, readOnly: true });
    expect(await appWrites(a, 'split-brain')).toMatch(/pg_hba\.conf rejects connection/);
    expect(await rowsNoted(a, 'split-brain')).toBe(0);
    // Nothing fenced it by command again: that is once per failover, not per reappearance.
    expect(script.invocations()).toHaveLength(1);
  });

  it('lets the application role in again once the member is reported rebuilt (a standby: read-only)', async () => {
    const a = t.cluster.node('pg-a');
    const b = t.cluster.node('pg-b');
    // pg_basebackup copies pg-b's pg_hba.conf; where the file lives outside the data directory
    // (Debian's /etc/postgresql), the fence survives the rebuild: put it back as such a file would be.
    const fencedHba = readFileSync(join(a.dataDir, 'pg_hba.conf'), 'utf8');
    expect(fencedHba).toContain('continuity-fence begin');
    await t.cluster.rebuild(a, b);
    writeFileSync(join(a.dataDir, 'pg_hba.conf'), fencedHba);
    await a.query('select pg_reload_conf()');
    await pollUntil(async () => /pg_hba\.conf rejects connection/.test(await appWrites(a, 'on-standby')), { what: 'the fence to hold on the rebuilt standby' });

    const rebuilt = await t.service.post('/failover/orders-db/members/pg-a/rebuilt');
    expect(rebuilt).toMatchObject({ status: 200, body: { primary: 'pg-b', epoch: 1, fenced: [] } });
    expect(readFileSync(join(a.dataDir, 'pg_hba.conf'), 'utf8')).not.toContain('continuity-fence');
    expect(await appWrites(a, 'on-standby')).toMatch(/read-only transaction/);
    expect(await appWrites(b, 'on-primary')).toBe('written');
  });
});

describe('a fence command that fails while fence.required is true', () => {
  let t: Awaited<ReturnType<typeof setUp>>;
  let script: ReturnType<typeof fenceScript>;

  beforeAll(async () => {
    t = await setUp((dir, cluster) => {
      script = fenceScript(dir, cluster, 'echo "power controller unreachable" >&2; exit 3');
      return { 'pg-a': { command: [script.file, 'db-a'], required: true } };
    });
  }, 60_000);

  afterAll(() => t?.remove());

  it('stops the failover: FailoverAbandoned naming it, nothing promoted, the command run once', async () => {
    t.cluster.primary.kill9();
    const abandoned = await pollUntil(async () => (await t.events('FailoverAbandoned'))[0], { what: 'FailoverAbandoned', timeoutMs: 15_000 });
    expect(abandoned.data).toMatchObject({ fromInstance: 'pg-a', toInstance: 'pg-b', epoch: 1 });
    expect(abandoned.data.reason).toMatch(/^fence command for pg-a failed \(exit 3\) in \d+ ms, and fence\.required is true: pg-b not promoted/);
    const [triggered] = await t.events('FailoverTriggered');
    expect(triggered!.data.fence).toMatchObject({ member: 'pg-a', ran: true, outcome: 'failed', exitCode: 3, required: true, output: 'power controller unreachable' });
    expect(abandoned.causationId).toBe(triggered!.id);

    const since = Date.now();
    await roundsAfter(t.service, 'pg-b', since);
    expect(await t.cluster.node('pg-b').isInRecovery()).toBe(true);
    expect((await t.service.get('/failover/orders-db/primary')).body).toMatchObject({ primary: 'pg-a', epoch: 0 });
    expect(script.invocations()).toHaveLength(1);
    expect(await t.events('FailoverCompleted')).toEqual([]);
  });
});

describe('a fence command that hangs', () => {
  let t: Awaited<ReturnType<typeof setUp>>;
  let pidFile: string;

  beforeAll(async () => {
    t = await setUp((dir, cluster) => {
      pidFile = join(dir, 'sleep.pid');
      const script = fenceScript(dir, cluster, `sleep 600 & echo $! > ${pidFile}; wait`);
      return { 'pg-a': { command: [script.file], timeoutMs: 1_000 } };
    });
  }, 60_000);

  afterAll(() => t?.remove());

  it('is killed at its timeout, with what it started; not required, so the standby is promoted, saying the old primary is not fenced', async () => {
    t.cluster.primary.kill9();
    await pollUntil(async () => (await t.service.get('/failover/orders-db/primary')).body?.epoch === 1, { what: 'the route to move to pg-b', timeoutMs: 15_000 });
    const [triggered] = await t.events('FailoverTriggered');
    const fence = triggered!.data.fence!;
    expect(fence).toMatchObject({ outcome: 'timed-out', exitCode: null, signal: 'SIGKILL', required: false, ran: true });
    expect(fence.durationMs).toBeGreaterThanOrEqual(1_000);
    expect(fence.durationMs).toBeLessThan(5_000);
    expect(triggered!.data.reason).toMatch(/fence command for pg-a timed out after \d+ ms \(killed\): promoting anyway \(fence\.required is false\), pg-a is NOT fenced$/);
    const sleeper = Number(readFileSync(pidFile, 'utf8'));
    const state = () => (existsSync(`/proc/${sleeper}/stat`) ? readFileSync(`/proc/${sleeper}/stat`, 'utf8').split(') ')[1]![0] : 'gone');
    await pollUntil(() => ['Z', 'gone'].includes(state()), { what: 'the sleep the fence script started to be killed', timeoutMs: 2_000 });
  });
});
