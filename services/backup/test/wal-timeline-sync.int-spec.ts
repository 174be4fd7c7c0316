import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Client } from 'pg';
import { lsnValue, walArtifactKey, walFileOfObject, zstdDecompress } from '@continuity/artifacts';
import type { WalSegment } from '@continuity/contracts';
import { pollUntil } from '@continuity/messaging/testing';
import { Kvm } from '@nats-io/kv';
import { failoverBucketName, routeKey } from '@continuity/contracts';
import { createPgCluster, PG_BIN, type PgCluster } from '@continuity/runtime/testing';
import { LocationRegistry } from '../src/backup-run/locations/location.registry.js';
import type { BackupConfig } from '../src/config/backup-config.loader.js';
import { followPrimary } from '../src/wal/follow-primary.js';
import { WalArchiver } from '../src/wal/wal-archiver.js';
import { WalInventory } from '../src/wal/wal-inventory.js';
import { routeTo, startWorld, World } from './harness.js';

const readAll = async (stream: AsyncIterable<Buffer | Uint8Array>) => {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
};

describe('WAL archive across a timeline switch, and synchronous archiving (real clusters, NATS, filesystem copies)', () => {
  let world: World;
  let inventory: WalInventory;
  const clusters: PgCluster[] = [];
  const registries: LocationRegistry[] = [];
  const archivers: WalArchiver[] = [];

  beforeAll(async () => {
    world = await startWorld('waltl');
    inventory = new WalInventory(world.pool);
    await inventory.migrate();
  }, 60_000);

  afterAll(async () => {
    for (const a of archivers) await a.stop().catch(() => undefined);
    for (const r of registries) await r.close();
    for (const c of clusters) await c.remove();
    await world?.close();
  });

  const configFor = (resource: string, url: string, wal: string) =>
    world.config(`
resources:
  ${resource}: { kind: postgres, site: eu-west-1a, connection: "${url}" }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1b, medium: disk, path: ${world.root}/nas }
policies:
  p-${resource}:
    resource: ${resource}
    copies: [local-disk, nas]
    threeTwoOne: { optOut: two local copies are enough for this test }
    wal: ${wal}
`);
  const archiverFor = (config: BackupConfig, resource: string) => {
    const locations = new LocationRegistry(config, world.nc);
    registries.push(locations);
    const archiver = world.walArchiver({ policy: config.policies.get(`p-${resource}`)!, locations, inventory });
    archivers.push(archiver);
    return { archiver, locations };
  };
  const shipped = (archiver: WalArchiver) => archiver.shipments.flatMap((s) => s.segments);
  const slotActive = (cluster: PgCluster['primary'], slot: string) =>
    pollUntil(async () => (await cluster.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]))[0]?.active, {
      timeoutMs: 20_000,
      what: `slot ${slot} streamed from`,
    });

  it('follows the promoted standby after a failover (the route record): the history file and the new timeline\'s segments are archived, in WalArchived and in every copy', async () => {
    const cluster = await createPgCluster({ standbys: 1 });
    clusters.push(cluster);
    const [primary, standby] = [cluster.primary, cluster.standbys[0]!];
    const kv = await new Kvm(world.nc).create(failoverBucketName(world.topology.namespace));
    const route = (member: typeof primary, epoch: number) => routeTo('pg-tl', member, epoch);
    await kv.put(routeKey('pg-tl'), JSON.stringify(route(primary, 0)));
    const before = archiverFor(await configFor('pg-tl', primary.url, '{ enabled: true, walShipIntervalMs: 1000, followPrimary: true }'), 'pg-tl');
    await before.archiver.start();
    await slotActive(primary, before.archiver.slot);
    const follow = followPrimary({
      nc: world.nc,
      resource: 'pg-tl',
      namespace: world.topology.namespace,
      configured: primary.url,
      repoint: (connection, why) => before.archiver.repoint(connection, why),
      logger: { log: () => undefined, warn: () => undefined, error: () => undefined },
      retryMs: 500,
    });
    await primary.query('CREATE TABLE t (id int)');
    const [{ name: tl1Segment }] = await primary.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
    await pollUntil(() => shipped(before.archiver).find((s) => s.name === tl1Segment && !s.partial), { timeoutMs: 30_000, what: `${tl1Segment} archived` });
    await primary.query('INSERT INTO t SELECT generate_series(1, 1000)');
    await standby.waitForReplay(await primary.currentLsn());

    // Failover: the primary dies, the standby is promoted, the route names it (a higher epoch).
    await primary.stop('immediate');
    await standby.query('SELECT pg_promote()');
    await pollUntil(async () => !(await standby.isInRecovery()), { timeoutMs: 30_000, what: 'the standby promoted' });
    await kv.put(routeKey('pg-tl'), JSON.stringify(route(standby, 1)));
    await pollUntil(() => before.archiver.currentConnection.includes(`:${standby.port}/`), { timeoutMs: 20_000, what: 'the archiver to follow the route' });
    const after = before;
    await slotActive(standby, after.archiver.slot);
    await standby.query('INSERT INTO t SELECT generate_series(1001, 2000)');
    const [{ name: tl2Segment }] = await standby.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
    expect(tl2Segment.slice(0, 8)).toBe('00000002');
    const tl2 = await pollUntil(() => shipped(after.archiver).find((s) => s.name === tl2Segment && !s.partial), { timeoutMs: 30_000, what: `${tl2Segment} archived` });
    const history = shipped(after.archiver).find((s) => s.name === '00000002.history')!;
    expect(history).toMatchObject({ kind: 'history', timeline: 2 });
    expect(lsnValue(history.startLsn)).toBeGreaterThan(lsnValue(tl2.startLsn) - 1n);
    expect(lsnValue(history.startLsn)).toBeLessThanOrEqual(lsnValue(tl2.endLsn));
    expect(after.archiver.gaps).toEqual([]);

    // On the stream, and in every copy.
    const events = await pollUntil(
      async () => {
        const names = new Set((await world.events('WalArchived', 'pg-tl')).flatMap((e) => (e.data.segments as WalSegment[]).map((s) => s.name)));
        return names.has('00000002.history') && names.has(tl2Segment) && names.has(tl1Segment) ? names : null;
      },
      { timeoutMs: 15_000, what: 'WalArchived listing the history file and both timelines' },
    );
    expect(events.size).toBeGreaterThanOrEqual(3);
    for (const name of ['00000002.history', tl2Segment]) {
      for (const location of ['local', 'nas']) expect(existsSync(join(world.root, location, 'pg-tl', 'wal', '00000002', `${name}.zst`))).toBe(true);
    }
    const historyText = (await readAll(zstdDecompress(await after.locations.get('local-disk').read(walArtifactKey('pg-tl', '00000002.history', false))))).toString();
    expect(historyText).toMatch(/^1\t[0-9A-F]+\/[0-9A-F]+\t/);
    // The archive's own index knows both timelines' ends (what gap detection compares with next time).
    expect((await inventory.tips('pg-tl')).map((t) => t.timeline)).toEqual([2, 1]);
    // An older route record (a lower epoch) is never followed back.
    await kv.put(routeKey('pg-tl'), JSON.stringify(route(primary, 0)));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(after.archiver.currentConnection).toContain(`:${standby.port}/`);
    follow.stop();
    await kv.destroy();
  }, 240_000);

  it('with synchronous archiving, every commit the client saw acknowledged is in the archived WAL after kill -9 of the primary and the loss of its data directory', async () => {
    const cluster = await createPgCluster({ standbys: 0 });
    clusters.push(cluster);
    const primary = cluster.primary;
    const { archiver, locations } = archiverFor(
      await configFor('pg-sync', primary.url, '{ enabled: true, walShipIntervalMs: 60000, synchronous: true, setSynchronousStandbyNames: true }'),
      'pg-sync',
    );
    await archiver.start();
    expect((await primary.query<{ s: string }>("SELECT current_setting('synchronous_standby_names') AS s"))[0]!.s).toBe(`"${archiver.applicationName}"`);
    await pollUntil(
      async () => (await primary.query<{ sync_state: string }>('SELECT sync_state FROM pg_stat_replication WHERE application_name = $1', [archiver.applicationName]))[0]?.sync_state === 'sync',
      { timeoutMs: 20_000, what: 'the archiver to be the synchronous standby' },
    );

    // One row per commit, each acknowledged (autocommit) before the next; every acknowledged xid kept.
    const client = new Client({ connectionString: primary.url });
    client.on('error', () => undefined);
    await client.connect();
    await client.query('CREATE TABLE items (id bigserial PRIMARY KEY, note text)');
    const acknowledged: string[] = [];
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        try {
          const { rows } = await client.query<{ xid: string }>("INSERT INTO items (note) VALUES ('x') RETURNING pg_current_xact_id()::text AS xid");
          acknowledged.push(rows[0]!.xid);
        } catch {
          return;
        }
      }
    })();
    await pollUntil(() => acknowledged.length >= 200, { timeoutMs: 60_000, what: '200 acknowledged commits' });
    primary.kill9();
    rmSync(primary.dataDir, { recursive: true, force: true });
    stopped = true;
    await loop;
    await client.end().catch(() => undefined);

    // What pg_receivewal flushed before each acknowledgement ships from the spool as it is.
    await archiver.scan();
    await archiver.stop();
    // Per segment the finished one, else its newest partial version (each stored under its own name).
    const newest = new Map<string, { object: string; partial: boolean; endLsn: string }>();
    for (const f of (await inventory.live('pg-sync')).filter((f) => f.kind === 'segment' && f.timeline === 1)) {
      const segment = walFileOfObject(f.name);
      const held = newest.get(segment);
      if (!held || (held.partial && (!f.partial || lsnValue(f.endLsn) > lsnValue(held.endLsn)))) newest.set(segment, { object: f.name, partial: f.partial, endLsn: f.endLsn });
    }
    const files = [...newest.keys()].sort();
    expect(files.length).toBeGreaterThan(0);
    const dir = join(world.root, 'sync-waldump');
    mkdirSync(dir, { recursive: true });
    for (const name of files) {
      const stored = await readAll(await locations.get('nas').read(walArtifactKey('pg-sync', newest.get(name)!.object, false)));
      writeFileSync(join(dir, name), await readAll(zstdDecompress(Readable.from([stored]))));
    }
    const dump = spawnSync(join(PG_BIN, 'pg_waldump'), ['--rmgr=Transaction', '-p', dir, files[0]!, files[files.length - 1]!], { encoding: 'utf8', maxBuffer: 256 << 20 });
    const committed = new Set([...dump.stdout.matchAll(/tx:\s+(\d+),.*desc: COMMIT/g)].map((m) => m[1]!));
    const missing = acknowledged.filter((xid) => !committed.has(xid));
    expect({ acknowledged: acknowledged.length, missing }).toEqual({ acknowledged: acknowledged.length, missing: [] });
  }, 240_000);
});
