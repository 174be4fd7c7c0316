import { Client } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { aDrillStartedData, testRunId } from '@continuity/contracts/testing';
import { wireBackup } from '../src/backup.wiring.js';
import { PG_ADMIN_URL, startWorld, World } from './harness.js';

/** A drill whose coordinating process died mid-step: ended failed by housekeeping, its scratch database dropped. */
describe('abandoned drills (real PostgreSQL, NATS)', () => {
  let world: World;
  const prefix = `drillab_${testRunId('a').toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 40);
  const admin = async <T>(work: (c: Client) => Promise<T>) => {
    const c = new Client({ connectionString: PG_ADMIN_URL });
    await c.connect();
    try {
      return await work(c);
    } finally {
      await c.end();
    }
  };
  const exists = (name: string) => admin(async (c) => ((await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount ?? 0) > 0);

  beforeAll(async () => {
    world = await startWorld('drab');
  });

  afterAll(async () => {
    await admin((c) => c.query(`SELECT datname FROM pg_database WHERE datname LIKE '${prefix}%'`)).then((r) =>
      Promise.all(r.rows.map((row) => admin((c) => c.query(`DROP DATABASE IF EXISTS "${row.datname}" WITH (FORCE)`)))),
    );
    await world?.close();
  });

  it('ends a drill left running by a dead process as failed, drops its scratch database, and leaves a live drill alone', async () => {
    const server = new URL(PG_ADMIN_URL);
    const here = `postgres://postgres@${server.hostname}:${server.port || 5432}`;
    const config = await world.config(`
resources:
  orders-db: { kind: postgres, site: eu-west-1a, connection: "${PG_ADMIN_URL}", restoreTargets: ["${here}/${prefix}_*"] }
  billing-db: { kind: postgres, site: eu-west-1a, connection: "${PG_ADMIN_URL}", restoreTargets: ["${here}/${prefix}_*"] }
locations:
  a: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/a }
  b: { kind: filesystem, site: eu-west-1b, medium: nas, path: ${world.root}/b }
  c: { kind: filesystem, site: eu-central-1, medium: tape, path: ${world.root}/c }
policies:
  orders: { resource: orders-db, copies: [a, b, c] }
  billing: { resource: billing-db, copies: [a, b, c] }
drills:
  orders-db: { scratch: "${here}/${prefix}", stepTimeoutMs: 1000 }
  billing-db: { scratch: "${here}/${prefix}" }
`);
    const silent = { log: () => undefined, warn: () => undefined, error: () => undefined };
    const graph = wireBackup({ config, pool: world.pool, nc: world.nc, publisher: world.publisher, topology: world.topology }, { logger: () => silent, replicas: 1 });
    await graph.drillStore.migrate();
    // What a dead process left: a running drill (begun an hour ago) and the scratch database its restore step made.
    const scratch = `${prefix}_0123456789ab`;
    await admin((c) => c.query(`CREATE DATABASE "${scratch}"`));
    const dead = uuidv7();
    await graph.drillStore.begin({
      drillId: dead,
      resource: 'orders-db',
      kind: 'restore',
      state: 'running',
      started: aDrillStartedData({ drillId: dead, startedAt: new Date(Date.now() - 3_600_000).toISOString(), stepTimeoutMs: 1_000 }),
      steps: [],
      completed: null,
      scratchInUse: `${here}/${scratch}`,
    });
    const live = uuidv7();
    await graph.drillStore.begin({ drillId: live, resource: 'billing-db', kind: 'restore', state: 'running', started: aDrillStartedData({ drillId: live, startedAt: new Date().toISOString() }), steps: [], completed: null });

    expect(await graph.drills.recoverAbandoned(new Date())).toEqual([dead]);
    expect(await exists(scratch)).toBe(false);
    const view = await graph.drillStore.get(dead);
    expect(view).toMatchObject({ state: 'failed', scratchInUse: null, completed: { outcome: 'failed', failedStep: 'restore', recoveredMs: null } });
    expect(view.completed!.reason).toBe(`the process coordinating the drill stopped before it ended (restore step never reported); its scratch target ${here}/${scratch} was dropped`);
    const [event] = (await world.events('DrillCompleted', 'orders-db')).filter((e) => e.data.drillId === dead);
    expect(event!.data).toEqual(view.completed);
    expect((await graph.drillStore.get(live)).state).toBe('running');
    // Idempotent: a second pass finds nothing more to end.
    expect(await graph.drills.recoverAbandoned(new Date())).toEqual([]);
    await graph.locations.close();
  }, 60_000);
});
