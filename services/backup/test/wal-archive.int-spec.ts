import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { decryptStream, lsnValue, walArtifactKey, zstdDecompress } from '@continuity/artifacts';
import type { WalSegment } from '@continuity/contracts';
import { pollUntil } from '@continuity/messaging/testing';
import { createPgCluster, startServiceProcess, type PgCluster, type ServiceProcess } from '@continuity/runtime/testing';
import { LocationRegistry } from '../src/backup-run/locations/location.registry.js';
import type { BackupConfig } from '../src/config/backup-config.loader.js';
import { WalArchiver, walSlotName } from '../src/wal/wal-archiver.js';
import { WalInventory } from '../src/wal/wal-inventory.js';
import { childProcessesNamed, startWorld, World, startWriter } from './harness.js';

const PASSWORD = 'wal-secret-pw-51ad';
const IDENTITY = 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX';
const RESOURCE = 'pg-wal';

const readAll = async (stream: AsyncIterable<Buffer | Uint8Array>) => {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
};
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');


describe('continuous WAL archive: pg_receivewal from a slot, every finished segment in every copy, WalArchived (real cluster, NATS, filesystem)', () => {
  let world: World;
  let cluster: PgCluster;
  let writer: Awaited<ReturnType<typeof startWriter>>;
  let config: BackupConfig;
  let locations: LocationRegistry;
  let archiver: WalArchiver;
  let inventory: WalInventory;
  let service: ServiceProcess | null = null;
  const extraArchivers: WalArchiver[] = [];
  let connection: string;

  beforeAll(async () => {
    world = await startWorld('walr');
    cluster = await createPgCluster({ standbys: 0 });
    writer = await startWriter(cluster.primary.url, 500);
    const url = new URL(cluster.primary.url);
    url.password = PASSWORD; // the test cluster trusts 127.0.0.1: the password only has to stay out of argv
    connection = url.toString();
    writeFileSync(join(world.root, 'wal.agekey'), `${IDENTITY}\n`);
    config = await world.config(`
resources:
  ${RESOURCE}: { kind: postgres, site: eu-west-1a, connection: "${url.toString()}" }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/nas }
  offsite: { kind: object-store, site: eu-central-1, bucket: ${world.bucket('waloff')} }
policies:
  pg-wal-archive:
    resource: ${RESOURCE}
    method: basebackup
    copies: [local-disk, nas, offsite]
    wal: { enabled: true, walShipIntervalMs: 1000 }
`);
    locations = new LocationRegistry(config, world.nc);
    inventory = new WalInventory(world.pool);
    await inventory.migrate();
    archiver = world.walArchiver({ policy: config.policies.get('pg-wal-archive')!, locations, inventory });
  }, 60_000);

  afterAll(async () => {
    await service?.stop('SIGTERM');
    for (const a of [archiver, ...extraArchivers]) {
      await a?.stop();
      await a?.dropSlot().catch(() => undefined);
    }
    // The service's slot: a slot left behind would keep WAL on the server for ever.
    await cluster?.primary.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'continuity_pg_wal_svc'").catch(() => undefined);
    await writer?.stop();
    await locations?.close();
    await cluster?.remove();
    await world?.close();
  });

  /** Switches to a new segment and returns the name of the one it finished. */
  const switchWal = async () => {
    const [row] = await cluster.primary.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
    return row!.name;
  };
  const archivedFinished = () => archiver.shipments.flatMap((s) => s.segments).filter((s) => s.kind === 'segment' && !s.partial);
  const waitArchived = (name: string) =>
    pollUntil(() => archivedFinished().find((s) => s.name === name), { timeoutMs: 30_000, what: `segment ${name} to be archived` });

  it('streams from its own slot with the password in the environment only, and ships the partial segment on the interval', async () => {
    await archiver.start();
    const [slot] = await cluster.primary.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots WHERE slot_name = $1', [walSlotName(RESOURCE)]);
    expect(slot?.slot_name).toBe('continuity_pg_wal');
    const receiver = await pollUntil(() => childProcessesNamed('pg_receivewal')[0], { what: 'pg_receivewal to run' });
    expect(receiver.argv.join(' ')).not.toContain(PASSWORD);
    expect(receiver.argv).toContain('--slot=continuity_pg_wal');
    expect(receiver.environ).toContain(`PGPASSWORD=${PASSWORD}`);
    const partial = await pollUntil(() => archiver.shipments.flatMap((s) => s.segments).find((s) => s.partial), { timeoutMs: 20_000, what: 'a partial segment shipped' });
    expect(lsnValue(partial.endLsn)).toBeGreaterThan(lsnValue(partial.startLsn));
  }, 40_000);

  it('archives every finished segment in each copy with the right hash, across a killed pg_receivewal, with no gap', async () => {
    const switched: string[] = [];
    for (let i = 0; i < 2; i++) {
      await pollUntil(async () => writer.written() > 0, {});
      switched.push(await switchWal());
      await waitArchived(switched[switched.length - 1]!);
    }
    // Kill the receiver while the writer goes on: the archiver restarts it and the slot closes the gap.
    const pid = archiver.receiverPid!;
    process.kill(pid, 'SIGKILL');
    await pollUntil(() => archiver.receiverPid !== null && archiver.receiverPid !== pid, { timeoutMs: 15_000, what: 'pg_receivewal to be restarted' });
    for (let i = 0; i < 2; i++) {
      switched.push(await switchWal());
      await waitArchived(switched[switched.length - 1]!);
    }

    const finished = new Map<string, WalSegment>();
    for (const s of archivedFinished()) finished.set(s.name, s);
    const chain = [...finished.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    expect(chain.length).toBeGreaterThanOrEqual(switched.length);
    for (const name of switched) expect(finished.has(name)).toBe(true);
    // Contiguous on the timeline: each segment ends where the next begins.
    for (let i = 1; i < chain.length; i++) {
      expect(chain[i]!.timeline).toBe(chain[0]!.timeline);
      expect(chain[i]!.startLsn).toBe(chain[i - 1]!.endLsn);
    }

    // Every copy holds the stored bytes the event names; they decompress to the WAL file hashed.
    for (const segment of chain) {
      expect(segment.copies.map((c) => c.location).sort()).toEqual(['local-disk', 'nas', 'offsite']);
      for (const copy of segment.copies) {
        const stored = await readAll(await locations.get(copy.location).read(walArtifactKey(RESOURCE, segment.name, false)));
        expect(sha256(stored)).toBe(segment.sha256);
        expect(copy.sha256).toBe(segment.sha256);
        expect(stored.length).toBe(segment.sizeBytes);
        if (copy.location === 'local-disk') {
          const plain = await readAll(zstdDecompress(Readable.from([stored])));
          expect(plain.length).toBe(16 * 1024 * 1024);
          expect(sha256(plain)).toBe(segment.plaintextSha256);
        }
      }
      expect(copyUriOf(segment, 'local-disk')).toContain(`/local/${RESOURCE}/wal/${segment.name.slice(0, 8)}/${segment.name}.zst`);
    }

    // The events on the stream list them, and the spool keeps no file that was shipped finished.
    const events = await pollUntil(
      async () => {
        const all = await world.events('WalArchived', RESOURCE);
        const listed = new Set(all.flatMap((e) => e.data.segments.filter((s: WalSegment) => !s.partial).map((s: WalSegment) => s.name)));
        return chain.every((s) => listed.has(s.name)) ? all : null;
      },
      { timeoutMs: 15_000, what: 'WalArchived events listing every segment' } as never,
    );
    expect(events[0]!.source).toBe('backup');
    expect(events[0]!.data.slot).toBe('continuity_pg_wal');
    expect(JSON.stringify(events)).not.toContain(PASSWORD);
    const { readdir } = await import('node:fs/promises');
    const spooled = await readdir(archiver.spool);
    for (const name of switched) expect(spooled).not.toContain(name);
  }, 120_000);

  it('encrypts WAL when the policy names a key: stored as .zst.age, hashes over the stored bytes, readable with the key', async () => {
    const encrypted = await world.config(`
resources:
  pg-wal-enc: { kind: postgres, site: eu-west-1a, connection: "${connection}" }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
policies:
  enc:
    resource: pg-wal-enc
    copies: [local-disk]
    encryption: { keyFile: ${world.root}/wal.agekey }
    threeTwoOne: { optOut: one local copy is enough for this test }
    wal: { enabled: true, walShipIntervalMs: 60000 }
`);
    const encLocations = new LocationRegistry(encrypted, world.nc);
    const enc = new WalArchiver({
      policy: encrypted.policies.get('enc')!,
      locations: encLocations,
      publisher: world.publisher,
      queue: (event) => world.catalogue.queue(event),
      flush: () => world.catalogue.flushOutbox((event) => world.publisher.publishEnvelope(event)),
      inventory,
      spoolDir: join(world.root, 'spool'),
      scanEveryMs: 200,
    });
    extraArchivers.push(enc);
    await enc.start();
    // The slot is created before streaming starts: the segment switched out next is streamed in full.
    await pollUntil(() => enc.receiverPid, { what: 'the second pg_receivewal to run' });
    await pollUntil(async () => (await cluster.primary.query<{ active: boolean }>("SELECT active FROM pg_replication_slots WHERE slot_name = 'continuity_pg_wal_enc'"))[0]?.active, { timeoutMs: 15_000, what: 'the slot to be streamed from' });
    const name = await switchWal();
    const segment = await pollUntil(() => enc.shipments.flatMap((s) => s.segments).find((s) => s.name === name && !s.partial), { timeoutMs: 30_000, what: `${name} archived encrypted` });
    expect(segment.copies[0]!.uri).toMatch(new RegExp(`/pg-wal-enc/wal/${name.slice(0, 8)}/${name}\\.zst\\.age$`));
    const stored = await readAll(await encLocations.get('local-disk').read(walArtifactKey('pg-wal-enc', name, true)));
    expect(sha256(stored)).toBe(segment.sha256);
    expect(stored.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    const plain = await readAll(zstdDecompress(await decryptStream(Readable.from([stored]), [IDENTITY], name)));
    expect(sha256(plain)).toBe(segment.plaintextSha256);
    expect(enc.shipments[enc.shipments.length - 1]!.event.data).toMatchObject({ encryption: { format: 'age' } });
    await enc.stop();
    await encLocations.close();
  }, 60_000);

  it('runs in the backup service: WalArchived from the service process, and a restart of the service resumes from the slot with no gap', async () => {
    const file = world.configFile(`
resources:
  pg-wal-svc: { kind: postgres, site: eu-west-1a, connection: "${connection}" }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/svc-local }
policies:
  svc:
    resource: pg-wal-svc
    copies: [local-disk]
    threeTwoOne: { optOut: one local copy is enough for this test }
    wal: { enabled: true, walShipIntervalMs: 60000 }
`);
    const env = {
      CONTINUITY_NAMESPACE: world.topology.namespace,
      DATABASE_URL: world.db.url,
      CONTINUITY_CONFIG: file,
      NATS_URL: 'nats://127.0.0.1:4222',
      BACKUP_SCHEDULER: 'off',
      BACKUP_WAL_SPOOL: join(world.root, 'svc-spool'),
    };
    const slotActive = () =>
      pollUntil(async () => (await cluster.primary.query<{ active: boolean }>("SELECT active FROM pg_replication_slots WHERE slot_name = 'continuity_pg_wal_svc'"))[0]?.active, {
        timeoutMs: 30_000,
        what: 'the service to stream from its slot',
      });
    const finishedOnStream = async () =>
      (await world.events('WalArchived', 'pg-wal-svc')).flatMap((e) => e.data.segments as WalSegment[]).filter((s) => s.kind === 'segment' && !s.partial);
    const waitOnStream = (name: string) => pollUntil(async () => (await finishedOnStream()).find((s) => s.name === name), { timeoutMs: 30_000, what: `${name} in a WalArchived` });

    service = await startServiceProcess('backup', env);
    await slotActive();
    const first = await switchWal();
    await waitOnStream(first);

    // Down while the writer goes on and the server switches segments: the slot keeps that WAL.
    await service.stop('SIGTERM');
    await pollUntil(async () => (await cluster.primary.query<{ active: boolean }>("SELECT active FROM pg_replication_slots WHERE slot_name = 'continuity_pg_wal_svc'"))[0]?.active === false, { what: 'the slot to be released' });
    const whileDown = [await switchWal(), await switchWal()];

    service = await startServiceProcess('backup', env);
    await slotActive();
    const after = await switchWal();
    await waitOnStream(after);
    const chain = [...new Map((await finishedOnStream()).map((s) => [s.name, s])).values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const name of [first, ...whileDown, after]) expect(chain.map((s) => s.name)).toContain(name);
    for (let i = 1; i < chain.length; i++) expect(chain[i]!.startLsn).toBe(chain[i - 1]!.endLsn);
    expect(service.output()).not.toContain(PASSWORD);
  }, 120_000);

  it('ships a timeline history file (first, with its switch point), keeps a file whose copy failed in the spool and ships it on the next scan', async () => {
    const offline = await world.config(`
resources:
  pg-wal-hist: { kind: postgres, site: eu-west-1a, connection: "${connection}" }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/hist-local }
  blocked: { kind: filesystem, site: eu-west-1b, medium: disk, path: ${world.root}/blocker/copies }
policies:
  hist:
    resource: pg-wal-hist
    copies: [local-disk, blocked]
    threeTwoOne: { optOut: two local copies are enough for this test }
    wal: { enabled: true, walShipIntervalMs: 60000 }
`);
    const queued: { type: string; data: any }[] = [];
    const histLocations = new LocationRegistry(offline, world.nc);
    // Not started: the spool is filled by hand, as pg_receivewal would after a timeline switch.
    const hist = new WalArchiver({
      policy: offline.policies.get('hist')!,
      locations: histLocations,
      publisher: world.publisher,
      queue: async (event) => void queued.push(event),
      flush: async () => undefined,
      inventory,
      spoolDir: join(world.root, 'hist-spool'),
    });
    const spool = join(world.root, 'hist-spool', 'pg-wal-hist');
    mkdirSync(spool, { recursive: true });
    const segment = Buffer.alloc(16 * 1024 * 1024, 7);
    writeFileSync(join(spool, '000000020000000000000005'), segment);
    writeFileSync(join(spool, '00000002.history'), '1\t0/5000A28\tno recovery target specified\n');
    writeFileSync(join(spool, '000000020000000000000006.partial'), Buffer.alloc(16 * 1024 * 1024));
    // The second location cannot be created (a file where its folder should be): nothing is shipped.
    writeFileSync(join(world.root, 'blocker'), 'not a folder');
    await expect(hist.scan()).rejects.toThrow('blocked');
    expect(queued).toHaveLength(0);
    expect(existsSync(join(spool, '000000020000000000000005'))).toBe(true);
    expect(existsSync(join(world.root, 'hist-local', 'pg-wal-hist', 'wal', '00000002', '00000002.history.zst'))).toBe(false);

    rmSync(join(world.root, 'blocker'));
    const shipment = (await hist.scan())!;
    // The partial segment holds nothing received yet (all zeros): not shipped.
    expect(shipment.segments.map((s) => [s.name, s.kind, s.partial])).toEqual([
      ['00000002.history', 'history', false],
      ['000000020000000000000005', 'segment', false],
    ]);
    expect(shipment.segments[0]).toMatchObject({ timeline: 2, startLsn: '0/5000A28', endLsn: '0/5000A28' });
    expect(shipment.segments[1]).toMatchObject({ timeline: 2, startLsn: '0/5000000', endLsn: '0/6000000', plaintextSha256: sha256(segment) });
    expect(queued.map((e) => e.type)).toEqual(['WalArchived']);
    // Finished files leave the spool once shipped; the partial one stays for pg_receivewal.
    expect(existsSync(join(spool, '00000002.history'))).toBe(false);
    expect(existsSync(join(spool, '000000020000000000000005'))).toBe(false);
    expect(existsSync(join(spool, '000000020000000000000006.partial'))).toBe(true);
    for (const location of ['hist-local', 'blocker/copies']) {
      expect(existsSync(join(world.root, location, 'pg-wal-hist', 'wal', '00000002', '000000020000000000000005.zst'))).toBe(true);
    }
    // Nothing new: no shipment, no event. Then bytes arrive in the partial segment: shipped as
    // partial, ending where its received bytes end.
    expect(await hist.scan()).toBeNull();
    expect(queued).toHaveLength(1);
    const partial = Buffer.alloc(16 * 1024 * 1024);
    partial.fill(9, 0, 0x1234);
    writeFileSync(join(spool, '000000020000000000000006.partial'), partial);
    const partialShipment = (await hist.scan())!;
    expect(partialShipment.segments).toEqual([
      expect.objectContaining({ name: '000000020000000000000006', partial: true, startLsn: '0/6000000', endLsn: '0/6001238', plaintextSha256: sha256(partial) }),
    ]);
    expect(await hist.scan()).toBeNull(); // unchanged since, and within the interval anyway
    expect(queued).toHaveLength(2);
    await histLocations.close();
  }, 60_000);

  it('each shipment of the partial segment is a version under its own name, never overwritten; the same WAL is not shipped again (after a restart either); superseded versions go after the grace period, the newest and the finished segment never', async () => {
    const versionsConfig = await world.config(`
resources:
  pg-wal-ver: { kind: postgres, site: eu-west-1a, connection: "${connection}" }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/ver-local }
  nas: { kind: filesystem, site: eu-west-1b, medium: disk, path: ${world.root}/ver-nas }
policies:
  ver:
    resource: pg-wal-ver
    copies: [local-disk, nas]
    threeTwoOne: { optOut: two local copies are enough for this test }
    wal: { enabled: true, walShipIntervalMs: 1000, partialVersionGraceMs: 600000 }
`);
    expect(versionsConfig.policies.get('ver')!.wal!.partialVersionGraceMs).toBe(600_000);
    const queued: { type: string; data: any }[] = [];
    const verLocations = new LocationRegistry(versionsConfig, world.nc);
    let clock = new Date('2026-12-01T10:00:00.000Z');
    // Not started: the spool is filled by hand, as pg_receivewal fills it.
    const archiverOf = () =>
      new WalArchiver({
        policy: versionsConfig.policies.get('ver')!,
        locations: verLocations,
        publisher: world.publisher,
        queue: async (event) => void queued.push(event),
        flush: async () => undefined,
        inventory,
        spoolDir: join(world.root, 'ver-spool'),
        now: () => clock,
      });
    const ver = archiverOf();
    const spool = join(world.root, 'ver-spool', 'pg-wal-ver');
    mkdirSync(spool, { recursive: true });
    const SEG = '000000010000000000000009';
    const stored = (dir: string, object: string) => join(world.root, dir, 'pg-wal-ver', 'wal', '00000001', `${object}.zst`);
    const received = (bytes: number) => {
      const partial = Buffer.alloc(16 * 1024 * 1024);
      partial.fill(5, 0, bytes);
      writeFileSync(join(spool, `${SEG}.partial`), partial);
      return partial;
    };
    const plain = async (path: string) => readAll(zstdDecompress(Readable.from([readFileSync(path)])));

    const first = received(0x1000);
    const v1 = (await ver.scan(true))!.segments[0]!;
    expect(v1).toMatchObject({ name: SEG, object: `${SEG}.partial.00001000`, partial: true, endLsn: '0/9001000', plaintextSha256: sha256(first) });
    const v1Bytes = { local: readFileSync(stored('ver-local', v1.object!)), nas: readFileSync(stored('ver-nas', v1.object!)) };
    const manifest = JSON.parse(readFileSync(stored('ver-local', v1.object!).replace(/\.zst$/, '.manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ name: SEG, object: v1.object, partial: true, endLsn: '0/9001000' });
    expect(existsSync(stored('ver-local', SEG))).toBe(false); // nothing under the segment's own name yet

    clock = new Date('2026-12-01T10:01:00.000Z');
    const second = received(0x8000);
    const v2 = (await ver.scan(true))!.segments[0]!;
    expect(v2).toMatchObject({ name: SEG, object: `${SEG}.partial.00008000`, endLsn: '0/9008000', plaintextSha256: sha256(second) });
    expect(queued.map((e) => e.data.segments.map((s: WalSegment) => s.object))).toEqual([[v1.object], [v2.object]]);
    // The first version is still there, byte for byte, beside the second.
    expect(readFileSync(stored('ver-local', v1.object!))).toEqual(v1Bytes.local);
    expect(readFileSync(stored('ver-nas', v1.object!))).toEqual(v1Bytes.nas);
    expect(sha256(await plain(stored('ver-nas', v2.object!)))).toBe(sha256(second));
    expect((await inventory.partialVersions('pg-wal-ver')).map((v) => v.name)).toEqual([v1.object, v2.object]);

    // The file touched, no byte received since: the same version, not shipped again; nor by a restarted archiver.
    received(0x8000);
    expect(await ver.scan(true)).toBeNull();
    expect(await archiverOf().scan(true)).toBeNull();
    expect(queued).toHaveLength(2);

    // Within the grace period nothing goes; after it, the superseded version does, from every copy.
    clock = new Date('2026-12-01T10:10:59.000Z');
    expect(await ver.prunePartialVersions()).toEqual([]);
    clock = new Date('2026-12-01T10:11:00.000Z');
    expect(await ver.prunePartialVersions()).toEqual([v1.object]);
    for (const dir of ['ver-local', 'ver-nas']) {
      expect(existsSync(stored(dir, v1.object!))).toBe(false);
      expect(existsSync(stored(dir, v1.object!).replace(/\.zst$/, '.manifest.json'))).toBe(false);
      expect(existsSync(stored(dir, v2.object!))).toBe(true);
    }
    expect((await inventory.live('pg-wal-ver')).map((f) => f.name)).toEqual([v2.object]);

    // The segment finished: stored under its own name; the last version stays for the grace period, then goes.
    clock = new Date('2026-12-01T10:20:00.000Z');
    const full = Buffer.alloc(16 * 1024 * 1024, 5);
    writeFileSync(join(spool, `${SEG}.partial`), full);
    renameSync(join(spool, `${SEG}.partial`), join(spool, SEG));
    const finished = (await ver.scan())!.segments[0]!;
    expect(finished).toMatchObject({ name: SEG, partial: false, endLsn: '0/A000000' });
    expect(finished.object).toBeUndefined();
    expect(existsSync(stored('ver-local', SEG))).toBe(true);
    expect(await ver.prunePartialVersions()).toEqual([]);
    expect(existsSync(stored('ver-local', v2.object!))).toBe(true);
    clock = new Date('2026-12-01T10:30:00.000Z');
    expect(await ver.prunePartialVersions()).toEqual([v2.object]);
    expect((await inventory.live('pg-wal-ver')).map((f) => f.name)).toEqual([SEG]);
    for (const dir of ['ver-local', 'ver-nas']) {
      expect(existsSync(stored(dir, v2.object!))).toBe(false);
      expect(sha256(await plain(stored(dir, SEG)))).toBe(sha256(full));
    }
    await verLocations.close();
  }, 60_000);
});

const copyUriOf = (segment: WalSegment, location: string) => segment.copies.find((c) => c.location === location)!.uri;
