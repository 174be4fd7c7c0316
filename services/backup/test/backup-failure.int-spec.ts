import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Objm } from '@nats-io/obj';
import { jetstreamManager } from '@nats-io/jetstream';
import { BackupLocation, LocationError } from '../src/backup-run/locations/location.js';
import { LocationRegistry } from '../src/backup-run/locations/location.registry.js';
import { createTestDatabase, seedDatabase, startWorld, World } from './harness.js';

const listAll = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? listAll(join(dir, d.name)) : [join(dir, d.name)]));

/** A real filesystem location whose disk "fills up" after `limit` bytes of one copy. */
const failingAfter = (inner: BackupLocation, limit: number): BackupLocation =>
  Object.assign(Object.create(inner) as BackupLocation, {
    begin: async (key: Parameters<BackupLocation['begin']>[0]) => {
      const writer = await inner.begin(key);
      let written = 0;
      return {
        ...writer,
        location: writer.location,
        uri: writer.uri,
        manifestUri: writer.manifestUri,
        write: async (chunk: Buffer) => {
          if (written + chunk.length > limit) throw new LocationError(inner.name, `cannot write ${writer.uri}: ENOSPC: no space left on device`);
          written += chunk.length;
          await writer.write(chunk);
        },
        finish: writer.finish,
        commit: writer.commit,
        abort: writer.abort,
      };
    },
  });

describe('a location that fails mid-write (real PostgreSQL, NATS, filesystem)', () => {
  let world: World;
  let source: Awaited<ReturnType<typeof createTestDatabase>>;

  beforeAll(async () => {
    world = await startWorld('bkfail');
    source = await createTestDatabase('backup_test_src');
    await seedDatabase(source.url);
  });

  afterAll(async () => {
    await source?.drop();
    await world?.close();
  });

  const yaml = (bucket: string) => `
resources:
  orders-db: { kind: postgres, site: eu-west-1a, connection: "${source.url}" }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/nas }
  offsite: { kind: object-store, site: eu-central-1, bucket: ${bucket} }
policies:
  orders-nightly: { resource: orders-db, copies: [local-disk, nas, offsite] }
`;

  const expectNothingLeft = async (backupId: string, bucket: string) => {
    expect(listAll(world.root).filter((f) => f.includes(backupId))).toEqual([]);
    const os = await new Objm(world.nc).open(bucket);
    const objects = (await os.list()).filter((o) => o.name.includes(backupId) && !o.deleted);
    expect(objects).toEqual([]);
    // No orphan chunks: the bucket's stream holds nothing but tombstones.
    const info = await (await jetstreamManager(world.nc)).streams.info(`OBJ_${bucket}`);
    expect(info.state.bytes).toBeLessThan(4096);
  };

  it('a filesystem copy failing mid-write: BackupFailed naming it, no BackupCreated, no temp file or copy left anywhere', async () => {
    const bucket = world.bucket('fsfail');
    const config = await world.config(yaml(bucket));
    const registry = new LocationRegistry(config, world.nc);
    const real = registry.get.bind(registry);
    registry.get = (name: string) => (name === 'nas' ? failingAfter(real(name), 64 * 1024) : real(name));
    const runner = world.runner(config, { locations: registry });
    const { backupId, done } = await runner.start('orders-db', { trigger: 'test' });
    const outcome = await done;
    expect(outcome).toMatchObject({ state: 'failed', stage: 'copy', reason: expect.stringContaining('ENOSPC') });

    const failed = (await world.events('BackupFailed')).filter((e) => e.data.backupId === backupId);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.data).toMatchObject({ stage: 'copy', location: 'nas', reason: expect.stringMatching(/^nas: cannot write .*ENOSPC/) });
    expect(failed[0]!.data.cleanedUp.map((c: { location: string; removed: boolean }) => [c.location, c.removed])).toEqual([
      ['local-disk', true],
      ['nas', true],
      ['offsite', true],
    ]);
    expect((await world.events('BackupCreated')).filter((e) => e.data.backupId === backupId)).toEqual([]);
    expect(await world.catalogue.get(backupId)).toMatchObject({ state: 'failed', error: { stage: 'copy', location: 'nas' } });
    await expectNothingLeft(backupId, bucket);
    await registry.close();
  });

  it('an object store that runs out of space mid-put (a real JetStream limit): BackupFailed, nothing left', async () => {
    const bucket = world.bucket('small');
    await new Objm(world.nc).create(bucket, { max_bytes: 24 * 1024 });
    const config = await world.config(yaml(bucket));
    const { backupId, done } = await world.runner(config).start('orders-db', { trigger: 'test' });
    const outcome = await done;
    expect(outcome).toMatchObject({ state: 'failed', stage: 'copy' });
    const [failed] = (await world.events('BackupFailed')).filter((e) => e.data.backupId === backupId);
    expect(failed!.data).toMatchObject({ location: 'offsite', reason: expect.stringMatching(/^offsite: put .* failed: .*/) });
    expect((await world.events('BackupCreated')).filter((e) => e.data.backupId === backupId)).toEqual([]);
    await expectNothingLeft(backupId, bucket);
  });

  it('a run abandoned by a crashed process is recorded failed, its leftovers removed, and the resource unblocked', async () => {
    const bucket = world.bucket('crash');
    const config = await world.config(yaml(bucket));
    const runner = world.runner(config);
    const backupId = '01935c3e-7b1a-7cc2-9a55-3f8d2f1e0b6a';
    const copies = [...config.policies.get('orders-nightly')!.copies].map((c) => ({ location: c.name, site: c.location.site, medium: c.location.medium }));
    await world.catalogue.start(
      {
        backupId,
        resource: 'orders-db',
        policy: 'orders-nightly',
        resourceKind: 'postgres',
        method: 'pg_dump-custom',
        startedAt: '2026-11-26T09:00:00.000Z',
        recoveryPoint: '2026-11-26T09:00:00.000Z',
        copies,
        encryption: null,
        threeTwoOne: { compliant: true, resourceSite: 'eu-west-1a', failedRules: [], optOut: null },
      },
      { trigger: 'test', owner: 'crashed-host:1', bytesExpected: null, extension: 'dump' },
    );
    await world.pool.query(`UPDATE backup.backups SET heartbeat_at = now() - interval '10 minutes' WHERE backup_id = $1`, [backupId]);
    const { mkdirSync, writeFileSync, existsSync } = await import('node:fs');
    mkdirSync(join(world.root, 'local', 'orders-db'), { recursive: true });
    const partial = join(world.root, 'local', 'orders-db', `.${backupId}.dump.partial-0badc0de`);
    writeFileSync(partial, 'half a dump');
    await expect(runner.start('orders-db', { trigger: 'test' })).rejects.toThrow(`already running (${backupId})`);

    expect(await runner.recoverAbandoned(60_000)).toEqual([backupId]);
    expect(existsSync(partial)).toBe(false);
    expect(await world.catalogue.get(backupId)).toMatchObject({ state: 'failed', error: { reason: expect.stringMatching(/^abandoned: the process running it stopped/) } });
    expect((await world.events('BackupFailed')).filter((e) => e.data.backupId === backupId)).toHaveLength(1);
    expect((await (await runner.start('orders-db', { trigger: 'test' })).done).state).toBe('created');
  });

  it('a source that fails (database gone): BackupFailed at the source stage with pg_dump\'s message', async () => {
    const bucket = world.bucket('srcfail');
    const config = await world.config(yaml(bucket).replace(source.url, source.url.replace(/\/[^/]+$/, '/backup_test_missing_db')));
    const { backupId, done } = await world.runner(config).start('orders-db', { trigger: 'test' });
    expect(await done).toMatchObject({ state: 'failed', stage: 'source', reason: expect.stringMatching(/pg_dump exited with 1: .*backup_test_missing_db.* does not exist/) });
    await expectNothingLeft(backupId, bucket);
  });
});
