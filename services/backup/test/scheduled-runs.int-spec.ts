import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import type { LoggerLike } from '../src/backup-run/backup-runner.js';
import type { BackupConfig } from '../src/config/backup-config.loader.js';
import { ScheduleClaims } from '../src/scheduler/schedule-claims.js';
import { ScheduledRuns, TickOutcome } from '../src/scheduler/scheduled-runs.js';
import { startWorld, World } from './harness.js';

/**
 * Claims of scheduled slots against the real catalogue, with the clock passed in: several
 * `ScheduledRuns` stand for several instances (each its own cache and claimant) sharing one database.
 */
describe('scheduled runs: one claim per policy and slot (real PostgreSQL, NATS, filesystem)', () => {
  let world: World;
  let config: BackupConfig;
  const warnings: string[] = [];
  const logger: LoggerLike = { log: () => undefined, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) };

  beforeAll(async () => {
    world = await startWorld('slots');
    const tree = join(world.root, 'tree');
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'a.txt'), 'alpha\n');
    config = await world.config(`
resources:
  files: { kind: directory, site: eu-west-1a, path: ${tree} }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${join(world.root, 'local')} }
policies:
  files-every-15m: { resource: files, schedule: every 15m, copies: [local-disk], threeTwoOne: { optOut: "a test of schedules" } }
`);
  });

  afterAll(async () => {
    await world?.close();
  });

  const policy = () => config.policies.get('files-every-15m')!;
  const instance = (claimant: string) => new ScheduledRuns({ claims: new ScheduleClaims(world.pool), runner: world.runner(config), claimant, logger });
  const finished = async (outcome: TickOutcome) => ('done' in outcome ? (await outcome.done).state : null);
  const claims = async () =>
    (await world.pool.query('SELECT slot, claimed_by, backup_id, skipped FROM backup.schedule_claims WHERE policy = $1 ORDER BY slot', ['files-every-15m'])).rows;
  const scheduledBackups = async () => (await world.catalogue.list({ resource: 'files' })).filter((b) => b.trigger === 'schedule');

  it('two instances ticking the same slot at the same moment: one wins and backs it up, the other does nothing', async () => {
    const [a, b] = [instance('a'), instance('b')];
    const now = new Date('2026-11-26T09:07:31Z');
    const outcomes = await Promise.all([a.tick(policy(), now), b.tick(policy(), now)]);
    const won = outcomes.filter((o) => 'claimed' in o && o.claimed);
    expect(won).toHaveLength(1);
    expect(outcomes.map((o) => o.slot?.toISOString())).toEqual(['2026-11-26T09:00:00.000Z', '2026-11-26T09:00:00.000Z']);
    expect(await finished(won[0]!)).toBe('created');
    const rows = await claims();
    expect(rows).toEqual([{ slot: new Date('2026-11-26T09:00:00Z'), claimed_by: expect.stringMatching(/^[ab]$/), backup_id: (won[0] as { backupId: string }).backupId, skipped: null }]);
    expect((await scheduledBackups()).map((r) => r.backupId)).toEqual([rows[0].backup_id]);
  });

  it('an instance restarted within a slot that already ran does not run it again', async () => {
    const restarted = instance('a-restarted');
    const outcome = await restarted.tick(policy(), new Date('2026-11-26T09:14:59.999Z'));
    expect(outcome).toEqual({ slot: new Date('2026-11-26T09:00:00Z'), claimed: false, next: new Date('2026-11-26T09:15:00Z') });
    // Its cache now knows the slot: later ticks in it do not even ask the database.
    expect(await restarted.tick(policy(), new Date('2026-11-26T09:14:59.999Z'))).toEqual({ slot: null, next: new Date('2026-11-26T09:15:00Z') });
    expect(await scheduledBackups()).toHaveLength(1);
  });

  it('after an outage spanning 5 slots, the recovery runs only the latest slot, once, and says how many were missed', async () => {
    const [a, b] = [instance('a'), instance('b')];
    // Nothing ran 09:15 … 10:15; both instances come back at 10:20.
    const outcomes = await Promise.all([a.tick(policy(), new Date('2026-11-26T10:20:00Z')), b.tick(policy(), new Date('2026-11-26T10:20:00.250Z'))]);
    const won = outcomes.filter((o) => 'claimed' in o && o.claimed);
    expect(won).toHaveLength(1);
    expect(await finished(won[0]!)).toBe('created');
    expect((await claims()).map((r) => r.slot.toISOString())).toEqual(['2026-11-26T09:00:00.000Z', '2026-11-26T10:15:00.000Z']);
    expect(warnings).toContain(
      'policy files-every-15m: 4 slot(s) after 2026-11-26T09:00:00.000Z were missed (no instance ran); running the latest, 2026-11-26T10:15:00.000Z, once',
    );
    expect(await scheduledBackups()).toHaveLength(2);
  });

  it('a slot claimed while another run of the resource is running is recorded as skipped with the reason, and not tried again', async () => {
    // A manual backup of the resource from another process holds it (the catalogue's one-run-per-resource index).
    const manual = uuidv7();
    const p = policy();
    await world.catalogue.start(
      {
        backupId: manual,
        resource: 'files',
        policy: p.name,
        resourceKind: 'directory',
        method: 'tar',
        startedAt: new Date().toISOString(),
        recoveryPoint: new Date().toISOString(),
        copies: [{ location: 'local-disk', site: 'eu-west-1a', medium: 'disk' }],
        encryption: null,
        threeTwoOne: { compliant: false, resourceSite: 'eu-west-1a', failedRules: [], optOut: 'a test of schedules' },
      },
      { trigger: 'api', owner: 'another-process', bytesExpected: null, extension: 'tar' },
    );
    const [a, b] = [instance('a'), instance('b')];
    const outcome = await a.tick(p, new Date('2026-11-26T10:30:00Z'));
    expect(outcome).toMatchObject({ claimed: true, skipped: `a backup of files is already running (${manual}); wait for it to finish` });
    // Neither this instance nor another retries the slot.
    expect(await a.tick(p, new Date('2026-11-26T10:31:00Z'))).toEqual({ slot: null, next: new Date('2026-11-26T10:45:00Z') });
    expect(await b.tick(p, new Date('2026-11-26T10:31:00Z'))).toMatchObject({ claimed: false });
    const skipped = (await claims()).find((r) => r.slot.toISOString() === '2026-11-26T10:30:00.000Z');
    expect(skipped).toMatchObject({ backup_id: null, skipped: `a backup of files is already running (${manual}); wait for it to finish` });
    expect(await scheduledBackups()).toHaveLength(2);
  });

  it('pruning forgets old claims but keeps each policy\'s latest, from which missed slots are counted', async () => {
    // Every claim so far is of a slot in November 2026, "old" against a keep of -1 year (the future).
    const before = await claims();
    const latest = before.at(-1)!.slot;
    expect(await new ScheduleClaims(world.pool).prune(-365 * 86_400_000)).toBe(before.length - 1);
    expect((await claims()).map((r) => r.slot)).toEqual([latest]);
    expect(await new ScheduleClaims(world.pool).prune(7 * 86_400_000)).toBe(0);
  });
});
