import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { lsnValue } from '@continuity/artifacts';
import type { WalSegment } from '@continuity/contracts';
import { pollUntil } from '@continuity/messaging/testing';
import { createPgCluster, type PgCluster } from '@continuity/runtime/testing';
import { BackupGraph, wireBackup } from '../src/backup.wiring.js';
import type { BackupConfig } from '../src/config/backup-config.loader.js';
import { RestorePoints } from '../src/wal/restore-points.js';
import { WalArchiver } from '../src/wal/wal-archiver.js';
import { segmentNameAt } from '../src/wal/wal-position.js';
import { startWorld, startWriter, World } from './harness.js';

const silent = { log: () => undefined, warn: () => undefined, error: () => undefined };
const PASSWORD = 'walops-secret-pw-9c2e';

describe('WAL archive operations: restore points, WAL retention, gap detection (real cluster, NATS, filesystem copies)', () => {
  let world: World;
  let cluster: PgCluster;
  let writer: Awaited<ReturnType<typeof startWriter>>;
  let config: BackupConfig;
  let graph: BackupGraph;
  const archivers: WalArchiver[] = [];

  beforeAll(async () => {
    world = await startWorld('walops');
    cluster = await createPgCluster({ standbys: 0 });
    writer = await startWriter(cluster.primary.url, 300);
    // The test cluster trusts 127.0.0.1: the password only has to stay out of argv, events and errors.
    const url = new URL(cluster.primary.url);
    url.password = PASSWORD;
    config = await world.config(`
resources:
  pg-ops: { kind: postgres, site: eu-west-1a, connection: "${url.toString()}" }
  pg-gap: { kind: postgres, site: eu-west-1a, connection: "${url.toString()}" }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1b, medium: disk, path: ${world.root}/nas }
policies:
  ops:
    resource: pg-ops
    method: basebackup
    copies: [local-disk, nas]
    retention: { keepLast: 1 }
    threeTwoOne: { optOut: two local copies are enough for this test }
    wal: { enabled: true, walShipIntervalMs: 1000, restorePointIntervalMs: 1000 }
  gap:
    resource: pg-gap
    copies: [local-disk, nas]
    threeTwoOne: { optOut: two local copies are enough for this test }
    wal: { enabled: true, walShipIntervalMs: 1000 }
`);
    graph = wireBackup({ config, pool: world.pool, nc: world.nc, publisher: world.publisher }, { logger: () => silent, replicas: 1 });
    await graph.walInventory.migrate();
  }, 90_000);

  afterAll(async () => {
    for (const a of archivers) {
      await a.stop();
      await a.dropSlot().catch(() => undefined);
    }
    await writer?.stop().catch(() => undefined);
    await graph?.locations.close();
    await cluster?.remove();
    await world?.close();
  });

  const archiverFor = (policy: string) => {
    const archiver = new WalArchiver({
      policy: config.policies.get(policy)!,
      locations: graph.locations,
      publisher: world.publisher,
      queue: (event) => graph.catalogue.queue(event),
      flush: () => graph.runner.flushOutbox(),
      inventory: graph.walInventory,
      startBaseBackup: async () => (await graph.runner.start(config.policies.get(policy)!.resourceName, { trigger: 'wal-gap', method: 'basebackup' })).backupId,
      spoolDir: join(world.root, 'spool'),
      scanEveryMs: 200,
      restartBackoffMs: { min: 200, max: 1_000 },
    });
    archivers.push(archiver);
    return archiver;
  };
  const switchWal = async () => (await cluster.primary.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name'))[0]!.name;
  const finishedOf = (archiver: WalArchiver) => archiver.shipments.flatMap((s) => s.segments).filter((s) => s.kind === 'segment' && !s.partial);
  const waitArchived = (archiver: WalArchiver, name: string) =>
    pollUntil(() => finishedOf(archiver).find((s) => s.name === name), { timeoutMs: 30_000, what: `segment ${name} archived` });
  const slotActive = (slot: string) =>
    pollUntil(async () => (await cluster.primary.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]))[0]?.active, {
      timeoutMs: 20_000,
      what: `slot ${slot} streamed from`,
    });
  const copyPath = (location: 'local' | 'nas', resource: string, name: string) => join(world.root, location, resource, 'wal', name.slice(0, 8), `${name}.zst`);
  const eventsOf = async <T extends 'RestorePointCreated' | 'WalExpired' | 'WalGapDetected' | 'BackupCreated'>(type: T, resource: string) => world.events(type, resource);

  it('creates named restore points on its timer and right after each base backup; WAL retention removes from every copy only the WAL no retained base backup needs', async () => {
    const ops = archiverFor('ops');
    await ops.start();
    await slotActive(ops.slot);
    const early: string[] = [];
    for (let i = 0; i < 2; i++) {
      early.push(await switchWal());
      await waitArchived(ops, early[early.length - 1]!);
    }

    // On the timer, at multiples of restorePointIntervalMs.
    const points = new RestorePoints({ policy: config.policies.get('ops')!, publisher: world.publisher, queue: (e) => graph.catalogue.queue(e), flush: () => graph.runner.flushOutbox(), logger: silent });
    points.start();
    const ticked = await pollUntil(async () => (await eventsOf('RestorePointCreated', 'pg-ops')).find((e) => e.data.trigger === 'interval'), { timeoutMs: 15_000, what: 'a timed restore point' });
    points.stop();
    expect(ticked.data).toMatchObject({ policy: 'ops', timeline: 1, backupId: null });
    expect(ticked.data.name).toMatch(/^continuity_\d{8}T\d{9}Z$/);
    expect(lsnValue(ticked.data.lsn)).toBeLessThanOrEqual(lsnValue(await cluster.primary.currentLsn()));

    const first = await (await graph.runner.start('pg-ops', { trigger: 'test' })).done;
    expect(first.state).toBe('created');
    if (first.state !== 'created') return;
    const afterFirst = await pollUntil(async () => (await eventsOf('RestorePointCreated', 'pg-ops')).find((e) => e.data.backupId === first.backupId), { timeoutMs: 15_000, what: 'the restore point after the base backup' });
    const firstFacts = (first.event.data as { basebackup: { startLsn: string; endLsn: string } }).basebackup;
    expect(afterFirst.data.trigger).toBe('base-backup');
    expect(lsnValue(afterFirst.data.lsn)).toBeGreaterThanOrEqual(lsnValue(firstFacts.endLsn));

    const middle: string[] = [];
    for (let i = 0; i < 2; i++) {
      middle.push(await switchWal());
      await waitArchived(ops, middle[middle.length - 1]!);
    }
    const second = await (await graph.runner.start('pg-ops', { trigger: 'test' })).done;
    expect(second.state).toBe('created');
    if (second.state !== 'created') return;
    const facts = (second.event.data as { basebackup: { startLsn: string; timeline: number } }).basebackup;
    // The segment holding the second backup's start, archived finished.
    const startSegment = segmentNameAt(facts.timeline, facts.startLsn);
    await pollUntil(async () => {
      if (!finishedOf(ops).some((s) => s.name === startSegment)) await switchWal();
      return finishedOf(ops).some((s) => s.name === startSegment);
    }, { timeoutMs: 30_000, intervalMs: 1_000, what: `${startSegment} archived` });

    const expired = await pollUntil(async () => (await eventsOf('WalExpired', 'pg-ops')).find((e) => e.data.keptFrom.backupId === second.backupId), { timeoutMs: 15_000, what: 'WalExpired after the second base backup' });
    const record = await graph.catalogue.get(second.backupId);
    expect(expired.data.keptFrom).toEqual({ backupId: second.backupId, timeline: facts.timeline, startLsn: facts.startLsn });
    expect(expired.data.earliestRecoverable).toEqual({ backupId: second.backupId, at: record!.finishedAt });
    expect((await graph.catalogue.get(first.backupId))!.state).toBe('expired');

    // A segment the archiver shipped after that run (it ships asynchronously) goes at the next one.
    await graph.walRetention.apply(config.policies.get('ops')!, () => graph.runner.flushOutbox());
    // Every archived segment before the second backup's start is gone from both copies; from its start on, all kept.
    const archived = [...new Map(finishedOf(ops).map((s) => [s.name, s])).values()];
    const before = archived.filter((s) => lsnValue(s.endLsn) <= lsnValue(facts.startLsn));
    const after = archived.filter((s) => lsnValue(s.endLsn) > lsnValue(facts.startLsn));
    expect(before.map((s) => s.name)).toEqual(expect.arrayContaining([...early, ...middle]));
    expect(after.map((s) => s.name)).toContain(startSegment);
    for (const s of before) for (const location of ['local', 'nas'] as const) expect({ s: s.name, location, present: existsSync(copyPath(location, 'pg-ops', s.name)) }).toEqual({ s: s.name, location, present: false });
    for (const s of after) for (const location of ['local', 'nas'] as const) expect({ s: s.name, location, present: existsSync(copyPath(location, 'pg-ops', s.name)) }).toEqual({ s: s.name, location, present: true });
    const allExpired = (await eventsOf('WalExpired', 'pg-ops')).reduce((n, e) => n + e.data.segments.count, 0);
    expect(allExpired).toBeGreaterThanOrEqual(before.length);
    expect(expired.data.copies.map((c: { location: string }) => c.location).sort()).toEqual(['local-disk', 'nas']);
    for (const c of expired.data.copies) expect(c.failed).toBe(0);

    // Attack: one copy's manifest altered to claim a later start. Retention must not believe it.
    const manifest = join(world.root, 'local', 'pg-ops', `${second.backupId}.manifest.json`);
    const { readFileSync, writeFileSync } = await import('node:fs');
    const original = readFileSync(manifest, 'utf8');
    writeFileSync(manifest, original.replace(`"startLsn": "${facts.startLsn}"`, '"startLsn": "FF/0"'));
    expect(readFileSync(manifest, 'utf8')).not.toBe(original);
    const refused = await graph.walRetention.apply(config.policies.get('ops')!, () => graph.runner.flushOutbox());
    expect(refused.skipped).toContain('disagree');
    expect(refused.expired).toEqual([]);
    for (const s of after) expect(existsSync(copyPath('local', 'pg-ops', s.name))).toBe(true);
    writeFileSync(manifest, original);

    // No password in any event of this resource.
    const all = [...(await eventsOf('RestorePointCreated', 'pg-ops')), ...(await eventsOf('WalExpired', 'pg-ops')), ...(await world.events('WalArchived', 'pg-ops'))];
    expect(JSON.stringify(all)).not.toContain(PASSWORD);

    // This resource's slot would keep WAL on the server for ever: the gap test below needs it gone.
    await ops.stop();
    await ops.dropSlot();
  }, 300_000);

  it('a receiver killed and restarted leaves no gap; a dropped slot whose WAL is gone is reported at once (WalGapDetected) and a base backup is taken although the policy dumps', async () => {
    const gap = archiverFor('gap');
    await gap.start();
    await slotActive(gap.slot);
    const names = [await switchWal()];
    await waitArchived(gap, names[0]!);
    const pid = gap.receiverPid!;
    process.kill(pid, 'SIGKILL');
    await pollUntil(() => gap.receiverPid !== null && gap.receiverPid !== pid, { timeoutMs: 15_000, what: 'pg_receivewal restarted' });
    names.push(await switchWal());
    await waitArchived(gap, names[1]!);
    const chain = [...new Map(finishedOf(gap).map((s) => [s.name, s])).values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    for (let i = 1; i < chain.length; i++) expect(chain[i]!.startLsn).toBe(chain[i - 1]!.endLsn);
    expect(gap.gaps).toEqual([]);
    const archivedEnd = chain[chain.length - 1]!.endLsn;

    // The slot dropped while the archiver is down, and the server keeps no WAL for anyone: recycled.
    await gap.stop();
    await cluster.primary.query('SELECT pg_drop_replication_slot($1)', [gap.slot]);
    await cluster.primary.query('ALTER SYSTEM SET wal_keep_size = 0');
    await cluster.primary.query('SELECT pg_reload_conf()');
    await pollUntil(
      async () => {
        await switchWal();
        await cluster.primary.query('CHECKPOINT');
        const [oldest] = await cluster.primary.query<{ name: string }>(`SELECT min(name) AS name FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'`);
        return oldest && oldest.name > segmentNameAt(1, archivedEnd) ? oldest : null;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: 'the server to recycle the WAL after the archive\'s end' },
    );

    await gap.start();
    expect(gap.gaps).toHaveLength(1);
    const reported = gap.gaps[0]!;
    expect(lsnValue(reported.fromLsn)).toBeLessThanOrEqual(lsnValue(archivedEnd));
    expect(lsnValue(reported.toLsn)).toBeGreaterThan(lsnValue(archivedEnd));
    expect(reported.reason).toContain(`WAL ${reported.fromLsn}-${reported.toLsn}`);
    expect(reported.reason).toContain('dropped');
    expect(reported.baseBackupId).not.toBeNull();

    const [event] = await pollUntil(async () => {
      const events = await eventsOf('WalGapDetected', 'pg-gap');
      return events.length ? events : null;
    }, { timeoutMs: 15_000, what: 'WalGapDetected on the stream' });
    expect(event!.data).toMatchObject({ policy: 'gap', slot: gap.slot, timeline: 1, fromLsn: reported.fromLsn, toLsn: reported.toLsn, baseBackupId: reported.baseBackupId });
    expect(event!.data.missingSegments.first).toBe(segmentNameAt(1, reported.fromLsn));

    // The base backup the gap started: physical, whatever the policy's method, and created.
    const created = await pollUntil(async () => (await eventsOf('BackupCreated', 'pg-gap')).find((e) => e.data.backupId === reported.baseBackupId), { timeoutMs: 120_000, intervalMs: 500, what: 'the base backup after the gap' });
    expect(created.data.method).toBe('basebackup');
    expect(lsnValue(created.data.basebackup.startLsn)).toBeGreaterThanOrEqual(lsnValue(reported.toLsn));
    expect((await graph.catalogue.get(reported.baseBackupId!))!.trigger).toBe('wal-gap');

    // Streaming resumed past the gap: the next segment is archived, on from where the gap ends.
    await slotActive(gap.slot);
    const next = await switchWal();
    const resumed = await waitArchived(gap, next);
    expect(lsnValue(resumed.startLsn)).toBeGreaterThanOrEqual(lsnValue(reported.toLsn));
    expect(gap.gaps).toHaveLength(1);
    const shippedAfter = (await eventsOf('WalGapDetected', 'pg-gap')).length;
    expect(shippedAfter).toBe(1);
    expect(JSON.stringify(await eventsOf('WalGapDetected', 'pg-gap'))).not.toContain(PASSWORD);
    expect(finishedOf(gap).filter((s: WalSegment) => lsnValue(s.startLsn) >= lsnValue(reported.fromLsn) && lsnValue(s.endLsn) <= lsnValue(reported.toLsn))).toEqual([]);
  }, 300_000);
});
