import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import { Client, Pool } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { lsnValue } from '@continuity/artifacts';
import { ContinuityPublisher, eventSubject, type WalSegment } from '@continuity/contracts';
import { pollUntil, readDeadLetters } from '@continuity/messaging/testing';
import { createPgCluster, type PgCluster } from '@continuity/runtime/testing';
// The backup service's own code archives the WAL and takes the base backup, exactly as in production (tests only: services never import each other).
import { parseBackupConfig } from '../../backup/src/config/backup-config.loader.js';
import { Catalogue } from '../../backup/src/catalogue/catalogue.js';
import { LocationRegistry } from '../../backup/src/backup-run/locations/location.registry.js';
import { BackupRunner } from '../../backup/src/backup-run/backup-runner.js';
import { WalArchiver } from '../../backup/src/wal/wal-archiver.js';
import { WalInventory } from '../../backup/src/wal/wal-inventory.js';
import { WalVerificationService } from '../src/wal/wal-verification.service.js';
import { startVerifierWorld, VerifierWorld } from './harness.js';

const RESOURCE = 'pg-wal';
const DAY = 86_400_000;

describe('WAL chain verification and replay to a restore point (real cluster, pg_receivewal, NATS, filesystem)', () => {
  let world: VerifierWorld;
  let cluster: PgCluster;
  let pool: Pool;
  let locations: LocationRegistry;
  let archiver: WalArchiver;
  let runner: BackupRunner;
  let backup: ContinuityPublisher;
  /** Three finished segments in a row, as archived. */
  let run: WalSegment[] = [];

  beforeAll(async () => {
    world = await startVerifierWorld('vwal');
    // The scratch server runs as the postgres OS user when we are root: it must reach the scratch folder.
    chmodSync(world.root, 0o755);
    cluster = await createPgCluster({ standbys: 0 });
    await cluster.primary.query('CREATE TABLE marks (id serial PRIMARY KEY, label text NOT NULL)');
    const config = await parseBackupConfig(
      join(world.root, 'backup.yaml'),
      `
resources:
  ${RESOURCE}: { kind: postgres, site: eu-west-1a, connection: "${cluster.primary.url}" }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1b, medium: nas, path: ${world.root}/nas }
  offsite: { kind: object-store, site: eu-central-1, bucket: ${world.bucket('waloff')} }
policies:
  pg-wal-archive:
    resource: ${RESOURCE}
    method: basebackup
    copies: [local-disk, nas, offsite]
    wal: { enabled: true, walShipIntervalMs: 1000 }
`,
    );
    pool = new Pool({ connectionString: world.db.url, max: 3 });
    const catalogue = new Catalogue(pool);
    await catalogue.migrate();
    locations = new LocationRegistry(config, world.nc);
    backup = new ContinuityPublisher(jetstream(world.nc), { source: 'backup', topology: world.topology });
    runner = new BackupRunner({ config, locations, catalogue, publisher: backup });
    const inventory = new WalInventory(pool);
    await inventory.migrate();
    archiver = new WalArchiver({
      policy: config.policies.get('pg-wal-archive')!,
      locations,
      inventory,
      publisher: backup,
      queue: async (event) => void (await backup.publishEnvelope(event)),
      flush: async () => undefined,
      spoolDir: join(world.root, 'spool'),
      scanEveryMs: 200,
      restartBackoffMs: { min: 200, max: 1_000 },
    });
    await archiver.start();
  }, 120_000);

  afterAll(async () => {
    await archiver?.stop();
    await archiver?.dropSlot().catch(() => undefined);
    await locations?.close();
    await pool?.end();
    await cluster?.remove();
    await world?.close();
  });

  const switchWal = async () => {
    await cluster.primary.query("INSERT INTO marks (label) SELECT 'row ' || g FROM generate_series(1, 200) g");
    const [row] = await cluster.primary.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
    return row!.name;
  };
  const archived = (name: string) =>
    pollUntil(() => archiver.shipments.flatMap((s) => s.segments).find((s) => s.name === name && !s.partial), { timeoutMs: 30_000, what: `segment ${name} archived` });
  const walVerified = async (resource: string) => (await world.events('WalVerified')).filter((e) => e.resource === resource);
  const degraded = async (resource: string) => (await world.events('ResourceDegraded')).filter((e) => e.resource === resource);
  /** The WalVerified caused by the WalArchived `eventId`. */
  const verifiedFor = (resource: string, eventId: string) =>
    pollUntil(async () => (await walVerified(resource)).find((e) => e.causationId === eventId), { timeoutMs: 30_000, what: `WalVerified for ${eventId}` });

  it('a chain without a gap: every copy of every segment re-read, each shipment verified, nothing degraded', async () => {
    // Streaming has begun (a partial segment shipped): from here on every segment is archived.
    await cluster.primary.query("INSERT INTO marks (label) VALUES ('first')");
    await pollUntil(() => archiver.shipments.length > 0, { timeoutMs: 30_000, what: 'a first shipment' });
    const names = [await switchWal(), await switchWal(), await switchWal()];
    for (const name of names) run.push(await archived(name));
    const shipment = archiver.shipments.find((s) => s.segments.some((seg) => seg.name === names[2] && !seg.partial))!;
    const verified = await verifiedFor(RESOURCE, shipment.event.id);
    expect(verified.data).toMatchObject({ trigger: 'new', verdict: 'passed', failedCopies: [], gaps: [] });
    expect(verified.data.copies.map((c) => [c.location, c.failed])).toEqual([
      ['local-disk', 0],
      ['nas', 0],
      ['offsite', 0],
    ]);
    expect(verified.data.copies.every((c) => c.ok >= 1)).toBe(true);
    const span = verified.data.timelines.find((t) => t.timeline === 1)!;
    expect(lsnValue(span.endLsn)).toBeGreaterThanOrEqual(lsnValue(run[2]!.endLsn));
    // Every shipment so far was verified (a shipment may carry several segments), and none failed.
    const shipped = archiver.shipments.slice(0, archiver.shipments.indexOf(shipment) + 1);
    for (const s of shipped) await verifiedFor(RESOURCE, s.event.id);
    const all = await walVerified(RESOURCE);
    expect(all.length).toBeGreaterThanOrEqual(shipped.length);
    expect(all.filter((e) => e.data.verdict !== 'passed')).toEqual([]);
    expect(await degraded(RESOURCE)).toEqual([]);
  }, 90_000);

  it('a missing segment: the gap is reported with its LSN range and ResourceDegraded once; the late segment closes it', async () => {
    const resource = 'pg-gap';
    const ship = async (segments: WalSegment[]) =>
      (await backup.publish('WalArchived', { resource, data: { policy: 'pg-wal-archive', slot: 'continuity_pg_gap', shippedAt: new Date().toISOString(), encryption: null, segments } })).event;
    expect(run.map((s) => s.startLsn).slice(1)).toEqual(run.map((s) => s.endLsn).slice(0, 2)); // three in a row
    await verifiedFor(resource, (await ship([run[0]!])).id);
    const holed = await verifiedFor(resource, (await ship([run[2]!])).id);
    expect(holed.data.verdict).toBe('failed');
    expect(holed.data.gaps).toEqual([{ timeline: 1, fromLsn: run[0]!.endLsn, toLsn: run[1]!.endLsn, detail: expect.stringContaining(`segment ${run[1]!.name} missing`) }]);
    const [alarm] = await pollUntil(async () => ((await degraded(resource)).length ? degraded(resource) : null), { what: 'ResourceDegraded for the gap' });
    expect(alarm!.source).toBe('verifier');
    expect(alarm!.causationId).toBe(holed.id);
    expect(alarm!.data).toMatchObject({ member: resource, needs: 'attention', reason: expect.stringContaining(`gap on timeline 1 from ${run[0]!.endLsn} to ${run[1]!.endLsn}`) });
    // Seen again (another shipment while the hole is open): still failed, not reported a second time.
    const again = await verifiedFor(resource, (await ship([run[2]!])).id);
    expect(again.data.gaps).toHaveLength(1);
    expect(await degraded(resource)).toHaveLength(1);
    // The same WalArchived delivered again (a redelivery after a lost ack): the same events, nothing new.
    const holedEvent = (await world.events('WalArchived')).find((e) => e.id === holed.causationId)!;
    const redelivered = await world.app.get(WalVerificationService).onArchived(holedEvent);
    expect(redelivered.envelopes.map((e) => e.id)).toContain(holed.id);
    expect((await walVerified(resource)).filter((e) => e.causationId === holedEvent.id)).toHaveLength(1);
    expect(await degraded(resource)).toHaveLength(1);
    const closed = await verifiedFor(resource, (await ship([run[1]!])).id);
    expect(closed.data).toMatchObject({ verdict: 'passed', gaps: [] });
    expect(closed.data.timelines).toEqual([{ timeline: 1, startLsn: run[0]!.startLsn, endLsn: run[2]!.endLsn, segments: 3 }]);
  }, 90_000);

  it('a corrupted copy: the scrub fails that copy, names it, degrades the resource; the other copies pass', async () => {
    const victim = run[1]!;
    const nas = fileURLToPath(victim.copies.find((c) => c.location === 'nas')!.uri);
    const bytes = readFileSync(nas);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(nas, bytes);
    const round = await world.scrubber().runOnce(new Date(Date.now() + 31 * DAY));
    expect(round.wal?.checked.map((c) => c.resource).sort()).toEqual(['pg-gap', RESOURCE]);
    const scrub = await pollUntil(async () => (await walVerified(RESOURCE)).find((e) => e.data.trigger === 'scrub'), { what: 'the WAL scrub of pg-wal' });
    expect(scrub.data.verdict).toBe('failed');
    expect(scrub.data.failedCopies).toEqual([{ name: victim.name, location: 'nas', uri: victim.copies.find((c) => c.location === 'nas')!.uri, error: expect.stringMatching(/^SHA-256 is [0-9a-f]{64}, expected [0-9a-f]{64}$/) }]);
    const tally = Object.fromEntries(scrub.data.copies.map((c) => [c.location, c]));
    expect(tally['nas']!.failed).toBe(1);
    expect(tally['local-disk']).toMatchObject({ failed: 0 });
    expect(tally['offsite']).toMatchObject({ failed: 0 });
    expect(tally['local-disk']!.ok).toBeGreaterThanOrEqual(3);
    const alarm = await pollUntil(async () => (await degraded(RESOURCE)).find((e) => e.causationId === scrub.id), { what: 'ResourceDegraded for the bad copy' });
    expect(alarm.data.reason).toContain(`${victim.name} in nas`);
    // Coverage counts the WAL files too.
    const coverage = await world.get(`/verifications/coverage?resource=${RESOURCE}`);
    expect(coverage.status).toBe(200);
    expect(coverage.body.wal).toMatchObject({ neverVerified: 0, notPassed: 1 });
    expect(coverage.body.wal.archivedFiles).toBeGreaterThanOrEqual(3);
  }, 120_000);

  let backupId = '';
  /** Waits until the verifier recorded the finished segment `name` (and `points` restore points). */
  const recorded = async (name: string, points: number) => {
    const db = new Client({ connectionString: world.db.url });
    await db.connect();
    try {
      await pollUntil(
        async () => {
          const { rows } = await db.query(
            'SELECT (SELECT count(*) FROM verifier.wal_files WHERE resource = $1 AND name = $2 AND NOT partial) AS files, (SELECT count(*) FROM verifier.restore_points WHERE resource = $1) AS points',
            [RESOURCE, name],
          );
          return Number(rows[0].files) === 1 && Number(rows[0].points) === points;
        },
        { timeoutMs: 30_000, what: `segment ${name} and ${points} restore points recorded by the verifier` },
      );
    } finally {
      await db.end();
    }
  };
  const checksOf = (test: { checks: { name: string; passed: boolean; detail: string | null }[] }) => Object.fromEntries(test.checks.map((c) => [c.name, c]));

  it('base backup + WAL, no restore point: the restore test replays the whole archive from the copies and promotes', async () => {
    const { done } = await runner.start(RESOURCE, { trigger: 'test' });
    const outcome = await done;
    if (outcome.state !== 'created') throw new Error(`base backup failed: ${outcome.reason}`);
    backupId = outcome.backupId;
    await world.verdict(backupId, 'new', 1, 180_000);
    const last = await switchWal();
    await archived(last);
    await recorded(last, 0);
    expect((await world.post('/verifications', { backupId })).status).toBe(202);
    const verdict = await world.verdict(backupId, 'manual', 1, 240_000);
    expect(verdict.data).toMatchObject({ verdict: 'passed', reasons: [] });
    const test = verdict.data.restoreTest!;
    expect(checksOf(test)['WAL replayed to the target']).toMatchObject({ passed: true, detail: expect.stringContaining('the latest archived WAL') });
    expect(checksOf(test)['recovery ended']).toMatchObject({ passed: true });
    expect(test.replay).toMatchObject({ target: 'latest', restorePoint: null });
    expect(lsnValue(test.replay!.reachedLsn!)).toBeGreaterThanOrEqual(lsnValue(test.replay!.targetLsn));
    expect(test.replay!.segmentsFetched).toBeGreaterThanOrEqual(1);
    expect(await world.scratchLeft()).toEqual([]);
  }, 400_000);

  it('base backup + WAL + restore point: replays to the point, passing over a corrupted copy for a good one, and reports the replay time', async () => {
    await cluster.primary.query("INSERT INTO marks (label) VALUES ('before the restore point')");
    const [point] = await cluster.primary.query<{ lsn: string }>("SELECT pg_create_restore_point('rp-one')::text AS lsn");
    await backup.publish('RestorePointCreated', { resource: RESOURCE, data: { policy: 'pg-wal-archive', name: 'rp-one', lsn: point!.lsn, timeline: 1, createdAt: new Date().toISOString(), trigger: 'interval', backupId: null } });
    await cluster.primary.query("INSERT INTO marks (label) VALUES ('after the restore point')");
    const last = await switchWal();
    const segment = await archived(last);
    await recorded(last, 1);
    // The local copy of the segment holding the restore point is damaged after it was verified: the replay must not use it.
    const local = fileURLToPath(segment.copies.find((c) => c.location === 'local-disk')!.uri);
    const bytes = readFileSync(local);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(local, bytes);
    expect((await world.post('/verifications', { backupId })).status).toBe(202);
    const verdict = await world.verdict(backupId, 'manual', 2, 240_000);
    expect(verdict.data).toMatchObject({ verdict: 'passed', reasons: [] });
    const test = verdict.data.restoreTest!;
    const checks = checksOf(test);
    expect(checks['WAL replayed to the target']).toMatchObject({ passed: true, detail: expect.stringContaining(`restore point rp-one at ${point!.lsn}`) });
    expect(checks['recovery stopped at the restore point']).toMatchObject({ passed: true });
    expect(checks['WAL fetched from good copies']).toMatchObject({ passed: true, detail: expect.stringContaining(`${last} from nas (local-disk: stored bytes differ from the archived ones`) });
    expect(checks['recovery ended']).toMatchObject({ passed: true });
    expect(test.replay).toMatchObject({ target: 'restore-point', restorePoint: 'rp-one', targetLsn: point!.lsn });
    expect(lsnValue(test.replay!.reachedLsn!)).toBeGreaterThanOrEqual(lsnValue(point!.lsn));
    expect(test.replay!.segmentsFetched).toBeGreaterThanOrEqual(1);
    expect(test.replay!.durationMs).toBeGreaterThan(0);
    expect(await world.scratchLeft()).toEqual([]);
  }, 400_000);

  it('attack: a WalArchived with a copy outside the file roots is dead-lettered with the reason, nothing read; a segment name with path characters is refused by the schema', async () => {
    const [template] = run;
    const evil = await backup.publish('WalArchived', {
      resource: 'pg-evil',
      data: {
        policy: 'pg-wal-archive',
        slot: 'continuity_pg_evil',
        shippedAt: new Date().toISOString(),
        encryption: null,
        segments: [{ ...template!, copies: [{ ...template!.copies[0]!, uri: 'file:///etc/shadow' }] }],
      },
    });
    const letter = await pollUntil(async () => (await readDeadLetters(world.nc, world.topology)).find((l) => new TextDecoder().decode(l.payload).includes(evil.event.id)), { what: 'the dead letter', timeoutMs: 30_000 });
    expect(letter.reason).toContain("is not under the verifier's file roots");
    expect(letter.deliveryCount).toBe(1);
    // A hand-written publisher: not through the typed client, which would refuse it.
    const forged = { ...evil.event, id: uuidv7(), resource: 'pg-evil2', data: { ...evil.event.data, segments: [{ ...template!, name: '../../etc/passwd' }] } };
    await jetstream(world.nc).publish(eventSubject('WalArchived', 'pg-evil2', world.topology), JSON.stringify(forged), { msgID: forged.id });
    const refused = await pollUntil(async () => (await readDeadLetters(world.nc, world.topology)).find((l) => new TextDecoder().decode(l.payload).includes(forged.id)), { what: 'the forged dead letter', timeoutMs: 30_000 });
    expect(refused.reason).toMatch(/name/);
    expect((await world.events('WalVerified')).filter((e) => e.resource.startsWith('pg-evil'))).toEqual([]);
  }, 60_000);
});
