import { join } from 'node:path';
import { pollUntil } from '@continuity/messaging/testing';
import { ServiceProcess, startServiceProcess } from '@continuity/runtime/testing';
import { startWorld, World } from './harness.js';

const EVERY_MS = 2_000; // the policy's `every 2s`: intervals go down to one second

interface ClaimRow {
  slot: Date;
  claimed_by: string;
  backup_id: string | null;
  skipped: string | null;
}

/**
 * Two backup service processes against one NATS topology and one catalogue database run one
 * policy every 2 s: each slot is backed up exactly once while both are up; with every instance
 * stopped for several slots, the one restarted alone runs one catch-up backup, not one per slot.
 */
describe('two backup processes, one schedule: each slot backed up once (real processes, NATS, PostgreSQL)', () => {
  let world: World;
  let env: Record<string, string>;
  const procs: ServiceProcess[] = [];

  const start = async () => {
    const proc = await startServiceProcess('backup', env);
    procs.push(proc);
    // waitForOutput's message shows the output as it was when waiting began: add what it is now.
    await proc.waitForOutput(`backup listening on http://127.0.0.1:${proc.port}`).catch((error: Error) => {
      throw new Error(`${error.message}\n${proc.output()}`);
    });
    return proc;
  };

  beforeAll(async () => {
    world = await startWorld('twoproc');
    const tree = world.tree('tree', { 'a.txt': 'alpha\n' });
    const config = world.configFile(`
resources:
  files: { kind: directory, site: eu-west-1a, path: ${tree} }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${join(world.root, 'local')} }
policies:
  files-every-2s: { resource: files, schedule: every 2s, copies: [local-disk], retention: { keepLast: 3 }, threeTwoOne: { optOut: "a test of schedules" } }
`);
    env = { CONTINUITY_NAMESPACE: world.topology.namespace, DATABASE_URL: world.db.url, CONTINUITY_CONFIG: config, NATS_URL: 'nats://127.0.0.1:4222' };
  });

  afterAll(async () => {
    for (const proc of procs) await proc.stop('SIGKILL');
    await world?.close();
  });

  const claims = async (): Promise<ClaimRow[]> =>
    (await world.pool.query('SELECT slot, claimed_by, backup_id, skipped FROM backup.schedule_claims WHERE policy = $1 ORDER BY slot', ['files-every-2s'])).rows;
  const scheduledBackups = async () => (await world.catalogue.list({ resource: 'files' })).filter((b) => b.trigger === 'schedule');
  /** Claims of slots from `after` on whose backups ended (created, or already expired by retention). */
  const doneSlotsAfter = async (after: number) => {
    const states = new Map((await scheduledBackups()).map((b) => [b.backupId, b.state]));
    return (await claims()).filter((c) => c.slot.getTime() > after && c.backup_id && ['created', 'expired'].includes(states.get(c.backup_id) ?? ''));
  };

  it('while both are up, 10 consecutive slots are each claimed once and backed up once, by one BackupCreated each', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const bothUp = Date.now();
    // A slot that comes while the catch-up backup of a just-started instance still runs is skipped,
    // and says so; the window starts after such leading slots.
    const windowFrom = async () => {
      const after = (await claims()).filter((c) => c.slot.getTime() > bothUp);
      const leading = after.findIndex((c) => !c.skipped?.includes('is already running'));
      return leading < 0 ? [] : after.slice(leading);
    };
    await pollUntil(async () => {
      const from = (await windowFrom())[0];
      return from && (await doneSlotsAfter(from.slot.getTime() - 1)).length >= 10;
    }, { what: '10 slots backed up with both instances up', timeoutMs: 60_000 });

    const window = (await windowFrom()).slice(0, 10);
    // None missed: 10 consecutive slots, 2 s apart, each with its backup and none skipped.
    expect(window.map((c) => c.slot.getTime() - window[0]!.slot.getTime())).toEqual([...Array(10).keys()].map((i) => i * EVERY_MS));
    expect(window.map((c) => c.skipped)).toEqual(Array(10).fill(null));
    expect(window.every((c) => c.backup_id)).toBe(true);
    // The claimants are these two processes (hostname-pid-random).
    const pids = [a.child.pid, b.child.pid].map((pid) => `-${pid}-`);
    for (const c of window) expect(pids.some((pid) => c.claimed_by.includes(pid))).toBe(true);

    // None run twice: every scheduled backup in the catalogue is the one backup of one claim, and
    // each of the window's backups was announced by exactly one BackupCreated.
    const all = await claims();
    const scheduled = await scheduledBackups();
    expect(scheduled.map((s) => s.backupId).sort()).toEqual(all.filter((c) => c.backup_id).map((c) => c.backup_id).sort());
    const created = await pollUntil(async () => {
      const events = await world.events('BackupCreated', 'files');
      const ids = events.map((e) => e.data.backupId as string);
      return window.every((c) => ids.includes(c.backup_id!)) ? ids : null;
    }, { what: 'a BackupCreated for each slot of the window' });
    for (const c of window) expect(created.filter((id) => id === c.backup_id)).toHaveLength(1);
  }, 90_000);

  it('every instance stopped for 3+ slots, then one restarted alone: one catch-up backup, not one per missed slot', async () => {
    await Promise.all(procs.map((p) => p.stop('SIGTERM')));
    const lastBefore = Math.max(...(await claims()).map((c) => c.slot.getTime()));
    // Wait (not an assertion) until 3 more slots have begun with no instance up.
    const threeSlotsLater = lastBefore + 3 * EVERY_MS + 200;
    await pollUntil(() => Date.now() > threeSlotsLater, { what: '3 slots to pass with every instance stopped', timeoutMs: 15_000 });

    const restartedAt = Date.now();
    const restarted = await start();
    const [catchUp] = await pollUntil(async () => {
      const after = await doneSlotsAfter(lastBefore);
      return after.length ? after : null;
    }, { what: 'the catch-up backup', timeoutMs: 30_000 });

    // The catch-up is the slot current when the process started (at or after the stop's last
    // slot + 3 intervals, no later than its start), and nothing was claimed in between.
    expect(catchUp!.slot.getTime()).toBeGreaterThanOrEqual(lastBefore + 3 * EVERY_MS);
    expect(catchUp!.slot.getTime()).toBeLessThanOrEqual(Date.now());
    expect(catchUp!.claimed_by).toContain(`-${restarted.child.pid}-`);
    const missedSlots = (catchUp!.slot.getTime() - lastBefore) / EVERY_MS - 1;
    expect(missedSlots).toBeGreaterThanOrEqual(2);
    await restarted.waitForOutput(
      `policy files-every-2s: ${missedSlots} slot(s) after ${new Date(lastBefore).toISOString()} were missed (no instance ran); running the latest, ${catchUp!.slot.toISOString()}, once`,
    );
    // One backup for every slot up to the restart, not one per missed slot.
    const upToRestart = (await claims()).filter((c) => c.slot.getTime() > lastBefore && c.slot.getTime() <= restartedAt);
    expect(upToRestart.length).toBeLessThanOrEqual(1);
    const sinceStop = (await claims()).filter((c) => c.slot.getTime() > lastBefore && c.slot.getTime() <= catchUp!.slot.getTime());
    expect(sinceStop).toEqual([catchUp]);
  }, 60_000);
});
