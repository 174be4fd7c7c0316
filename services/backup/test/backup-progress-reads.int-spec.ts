import { BackupsHttpController, RUNNING_RECORD_MAX_AGE_MS } from '../src/catalogue/backups.http.controller.js';
import type { Catalogue } from '../src/catalogue/catalogue.js';
import type { BackupLocation } from '../src/backup-run/locations/location.js';
import { LocationRegistry } from '../src/backup-run/locations/location.registry.js';
import { startWorld, World } from './harness.js';

/** A location whose every write waits `ms`: the run lasts long enough to be polled. */
const slow = (inner: BackupLocation, ms: number): BackupLocation =>
  Object.assign(Object.create(inner) as BackupLocation, {
    begin: async (key: Parameters<BackupLocation['begin']>[0]) => {
      const writer = await inner.begin(key);
      return { ...writer, write: async (chunk: Buffer) => (await new Promise((r) => setTimeout(r, ms)), writer.write(chunk)) };
    },
  });

describe('GET /backups/:id of a run of this process (real PostgreSQL catalogue, filesystem)', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld('bkprog');
  });
  afterAll(async () => {
    await world?.close();
  });

  it('reads the catalogue at most once a second while the run goes on, with live progress, and says created as soon as the catalogue does', async () => {
    const tree = world.tree('slow-tree', Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`f${i}.bin`, Buffer.alloc(1 << 20, i)])));
    const config = await world.config(`
resources:
  files: { kind: directory, site: eu-west-1a, path: ${tree} }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
policies:
  files-policy: { resource: files, copies: [local-disk], threeTwoOne: { optOut: "test" } }
`);
    const registry = new LocationRegistry(config, world.nc);
    const real = registry.get.bind(registry);
    registry.get = (name: string) => slow(real(name), 400);
    const runner = world.runner(config, { locations: registry });
    let reads = 0;
    const catalogue = Object.assign(Object.create(world.catalogue) as Catalogue, {
      getOrNotFound: (id: string) => (reads++, world.catalogue.getOrNotFound(id)),
    });
    const controller = new BackupsHttpController(catalogue, runner);
    const { backupId, done } = await runner.start('files', { trigger: 'test' });
    const started = Date.now();
    const seen: { state: string; bytesDone: number }[] = [];
    let ended = false;
    void done.finally(() => (ended = true));
    while (!ended) {
      const view = await controller.get(backupId);
      seen.push({ state: view.state, bytesDone: view.progress.bytesDone });
      await new Promise((r) => setTimeout(r, 20));
    }
    const elapsed = Date.now() - started;
    expect((await done).state).toBe('created');
    expect(seen.length).toBeGreaterThan(50);
    // Running until the catalogue says created (the run publishes its event after that), never back;
    // the run may end before a poll falls in between.
    const states = seen.map((s) => s.state).join(' ');
    expect(states).toMatch(/^running( running)*( created)*$/);
    const running = seen.filter((s) => s.state === 'running');
    expect(new Set(running.map((s) => s.bytesDone)).size).toBeGreaterThan(2); // live progress, not the record read once
    expect(reads).toBeLessThanOrEqual(Math.ceil(elapsed / RUNNING_RECORD_MAX_AGE_MS) + 1);
    // The run is over: the next request reads the catalogue, which says created.
    const after = await controller.get(backupId);
    expect(after).toMatchObject({ state: 'created', progress: { percent: 100 } });
  });
});
