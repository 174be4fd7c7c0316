import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { Client } from 'pg';
import { Kvm, type KV } from '@nats-io/kv';
import { artifactPath, lsnValue, partialVersionName, walArtifactKey, walFileFacts, zstdCompress, zstdDecompress, type RestorePlan } from '@continuity/artifacts';
import { failoverBucketName, routeKey } from '@continuity/contracts';
import { envelopeLeafHash } from '@continuity/contracts/ledger';
import { pollUntil } from '@continuity/messaging/testing';
import { bearer, createPgCluster, freePort, PG_BIN, startServiceProcess, TEST_TOKENS, type PgCluster, type PgNode } from '@continuity/runtime/testing';
import { LocationRegistry } from '../src/backup-run/locations/location.registry.js';
import type { BackupConfig } from '../src/config/backup-config.loader.js';
import { followPrimary } from '../src/wal/follow-primary.js';
import { WalArchiver } from '../src/wal/wal-archiver.js';
import { WalInventory } from '../src/wal/wal-inventory.js';
import { createTestDatabase, routeTo, runCli, startWorld, World, stopRestoredServers } from './harness.js';

const RESOURCE = 'pg-pitr-tl';
const asRoot = process.getuid?.() === 0;
const pgGid = () => Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const hexLsn = (v: bigint) => `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
const readAll = async (stream: AsyncIterable<Buffer | Uint8Array>) => {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk));
  return parts;
};

/**
 * A point-in-time restore across a failover: base backup on timeline 1, writes, the standby
 * promoted (timeline 2) and the archive following it through the route record, more writes;
 * restored to a moment after the switch and to the latest, from the CLI with no service running.
 */
describe('point-in-time restore across a timeline switch (real primary + standby, archive following the route record)', () => {
  let world: World;
  let cluster: PgCluster;
  let primary: PgNode;
  let standby: PgNode;
  let kv: KV;
  let locations: LocationRegistry;
  let archiver: WalArchiver;
  let follow: { stop(): void };
  let env: Record<string, string>;
  const started: string[] = [];
  /** Rows committed on timeline 1 after the base backup, on timeline 2 before T, and after T. */
  let tl1Rows: number[] = [];
  let tl2BeforeT: number[] = [];
  let tl2AfterT: number[] = [];
  let target: Date;
  /** A WAL position on timeline 2 after the rows before T were committed, before those after T. */
  let tl2Lsn: string;
  let backupId: string;
  /** How many of the rows before T are in segments of timeline 2 before the last one. */
  let tl2EarlySegments = 0;
  /** The finished segment of timeline 2 holding the rows just before and after T. */
  let lastTl2Segment: string;

  const route = (member: PgNode, epoch: number) => routeTo(RESOURCE, member, epoch);
  const shipped = () => archiver.shipments.flatMap((s) => s.segments);
  const switchAndArchive = async (node: PgNode) => {
    const [{ name }] = await node.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
    await pollUntil(() => shipped().find((s) => s.name === name && !s.partial), { timeoutMs: 30_000, what: `${name} archived` });
    return name;
  };
  const insert = async (node: PgNode, n: number, note: string) =>
    (await node.query<{ id: string }>('INSERT INTO items (note) SELECT $2 FROM generate_series(1, $1) RETURNING id', [n, note])).map((r) => Number(r.id));
  const restore = (args: string[]) => runCli(['restore', RESOURCE, ...args], env);
  const restoredClient = async (port: number) => {
    const client = new Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await client.connect();
    return client;
  };
  const fetchedNames = (dataDir: string) =>
    readFileSync(join(dataDir, 'continuity-wal-fetch.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { outcome: string; name: string })
      .filter((e) => e.outcome === 'fetched')
      .map((e) => e.name);

  const fetchLog = (dataDir: string) =>
    readFileSync(join(dataDir, 'continuity-wal-fetch.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { outcome: string; name: string; object?: string });
  /**
   * A "newer" version of the newest partial segment shipped, put into the copy folders `dirs` by a
   * stranger: its bytes and manifest agree with each other (the archiver never shipped it, and no
   * WalArchived records it).
   */
  const forgeNewerVersion = async (dirs: string[]) => {
    const real = [...shipped()].reverse().find((s) => s.partial && s.object)!;
    const object = partialVersionName(real.name, (16 << 20) - 8);
    const source = join(world.root, 'local', artifactPath(walArtifactKey(RESOURCE, real.object!, false)));
    const forgedPlain = Buffer.concat(await readAll(zstdDecompress(Readable.from([readFileSync(source)]))));
    forgedPlain.fill(0x42, forgedPlain.length - 4096);
    const forgedStored = Buffer.concat(await readAll(zstdCompress(Readable.from([forgedPlain]))));
    const manifest = {
      ...JSON.parse(readFileSync(source.replace(/\.zst$/, '.manifest.json'), 'utf8')),
      object,
      endLsn: hexLsn(lsnValue(walFileFacts(real.name).startLsn) + BigInt((16 << 20) - 8)),
      stored: { sha256: sha(forgedStored), sizeBytes: forgedStored.length },
      plaintext: { sha256: sha(forgedPlain), sizeBytes: forgedPlain.length },
    };
    const paths: string[] = [];
    for (const dir of dirs) {
      const data = join(world.root, dir, artifactPath(walArtifactKey(RESOURCE, object, false)));
      writeFileSync(data, forgedStored);
      writeFileSync(data.replace(/\.zst$/, '.manifest.json'), JSON.stringify(manifest));
      paths.push(data, data.replace(/\.zst$/, '.manifest.json'));
    }
    return { segment: real.name, object, plaintextSha256: sha(forgedPlain), remove: () => paths.forEach((p) => rmSync(p, { force: true })) };
  };

  beforeAll(async () => {
    world = await startWorld('pitl');
    chmodSync(world.root, 0o755);
    // The restored server's restore_command runs as the postgres OS user: it reads the copies by group.
    for (const dir of ['local', 'nas', 'vault']) {
      mkdirSync(join(world.root, dir));
      if (asRoot) chownSync(join(world.root, dir), 0, pgGid());
      chmodSync(join(world.root, dir), 0o2750);
    }
    cluster = await createPgCluster({ standbys: 1 });
    [primary, standby] = [cluster.primary, cluster.standbys[0]!];
    const yaml = `
resources:
  ${RESOURCE}:
    kind: postgres
    site: eu-west-1a
    connection: "${primary.url}"
    restoreTargets: ["${world.root}/restored"]
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1b, medium: nas, path: ${world.root}/nas }
  vault: { kind: filesystem, site: eu-west-1c, medium: disk, path: ${world.root}/vault }
policies:
  pitr-tl:
    resource: ${RESOURCE}
    method: basebackup
    copies: [local-disk, nas, vault]
    threeTwoOne: { optOut: three disks are enough for this test }
    wal: { enabled: true, walShipIntervalMs: 1000, followPrimary: true }
`;
    const config: BackupConfig = await world.config(yaml);
    env = { CONTINUITY_CONFIG: world.configFile(yaml), DATABASE_URL: world.db.url, NATS_URL: 'nats://127.0.0.1:4222', CONTINUITY_NAMESPACE: world.topology.namespace };
    kv = await new Kvm(world.nc).create(failoverBucketName(world.topology.namespace));
    await kv.put(routeKey(RESOURCE), JSON.stringify(route(primary, 0)));
    locations = new LocationRegistry(config, world.nc);
    const inventory = new WalInventory(world.pool);
    await inventory.migrate();
    archiver = world.walArchiver({ policy: config.policies.get('pitr-tl')!, locations, inventory });
    await archiver.start();
    follow = followPrimary({
      nc: world.nc,
      resource: RESOURCE,
      namespace: world.topology.namespace,
      configured: primary.url,
      repoint: (connection, why) => archiver.repoint(connection, why),
      logger: { log: () => undefined, warn: () => undefined, error: () => undefined },
      retryMs: 500,
    });

    // Timeline 1: a base backup, then writes.
    await primary.query('CREATE TABLE items (id bigserial PRIMARY KEY, note text NOT NULL)');
    const outcome = await (await world.runner(config).start(RESOURCE, { trigger: 'test' })).done;
    if (outcome.state !== 'created') throw new Error(`base backup failed: ${JSON.stringify(outcome)}`);
    backupId = outcome.backupId;
    tl1Rows = await insert(primary, 500, 'timeline 1');
    await switchAndArchive(primary);
    tl1Rows.push(...(await insert(primary, 200, 'timeline 1, last segment')));
    await standby.waitForReplay(await primary.currentLsn(), 30_000);

    // Failover: the primary dies, the standby is promoted (timeline 2), the route names it.
    await primary.stop('immediate');
    await standby.query('SELECT pg_promote()');
    await pollUntil(async () => !(await standby.isInRecovery()), { timeoutMs: 30_000, what: 'the standby promoted' });
    await kv.put(routeKey(RESOURCE), JSON.stringify(route(standby, 1)));
    await pollUntil(() => archiver.currentConnection.includes(`:${standby.port}/`), { timeoutMs: 30_000, what: 'the archive to follow the route' });

    // Timeline 2: writes before and after a moment T.
    tl2BeforeT = await insert(standby, 300, 'timeline 2, before T');
    tl2EarlySegments = tl2BeforeT.length;
    await switchAndArchive(standby);
    tl2BeforeT.push(...(await insert(standby, 100, 'timeline 2, just before T')));
    tl2Lsn = (await standby.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
    await sleep(300);
    target = new Date();
    await sleep(300);
    tl2AfterT = await insert(standby, 100, 'timeline 2, after T');
    lastTl2Segment = await switchAndArchive(standby);
    expect(shipped().some((s) => s.name === '00000002.history')).toBe(true);
    expect(archiver.gaps).toEqual([]);
  }, 240_000);

  afterAll(async () => {
    stopRestoredServers(started);
    follow?.stop();
    await archiver?.stop();
    await locations?.close();
    await kv?.destroy().catch(() => undefined);
    await cluster?.remove().catch(() => undefined);
    await world?.close();
  });

  const timelineOf = async (client: Client) => parseInt((await client.query<{ f: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS f')).rows[0]!.f.slice(0, 8), 16);
  const idsIn = async (client: Client) => new Set((await client.query<{ id: string }>('SELECT id::text FROM items')).rows.map((r) => Number(r.id)));

  it('--at a moment after the switch: the rows of timeline 1 and of timeline 2 before it, none after; the history file fetched, the server on a timeline after 2', async () => {
    const port = await freePort();
    const dataDir = join(world.root, 'restored', 'at-time');
    started.push(dataDir);
    const run = await restore(['--at', target.toISOString(), '--to-data-dir', dataDir, '--start', '--port', String(port)]);
    expect(`${run.code} ${run.stderr}`).toBe(`0 ${run.stderr}`);
    expect(run.stdout).toMatch(/recovery: promoted at LSN/);
    const client = await restoredClient(port);
    try {
      const ids = await idsIn(client);
      expect([...tl1Rows, ...tl2BeforeT].filter((id) => !ids.has(id))).toEqual([]);
      expect(tl2AfterT.filter((id) => ids.has(id))).toEqual([]);
      expect(await timelineOf(client)).toBeGreaterThan(2);
    } finally {
      await client.end();
    }
    const fetched = fetchedNames(dataDir);
    expect(fetched).toContain('00000002.history');
    expect(fetched.some((n) => n.startsWith('00000002') && n.length === 24)).toBe(true);
    expect(fetched.some((n) => n.startsWith('00000001') && n.length === 24)).toBe(true);
  }, 180_000);

  it('--latest while the primary keeps writing and the archive ships newer versions of the partial segment: the version the plan recorded is what wal-fetch reads after the archive has moved on, and recovery reaches it; a "newer" version a stranger put into one copy is not used', async () => {
    const liveRows = await insert(standby, 50, 'timeline 2, before the live restore');
    const committedAt = await standby.currentLsn();
    await pollUntil(() => shipped().find((s) => s.partial && lsnValue(s.endLsn) >= lsnValue(committedAt)), { timeoutMs: 30_000, what: 'a partial version holding the rows' });
    const forged = await forgeNewerVersion(['local']);
    let writing = true;
    const writes = (async () => {
      while (writing) {
        await insert(standby, 20, 'timeline 2, during the live restore');
        await sleep(100);
      }
    })();
    const dataDir = join(world.root, 'restored', 'latest-live');
    started.push(dataDir);
    try {
      // The plan is made (no --start): the operator starts the server later, as after a restore to a new host.
      const run = await restore(['--latest', '--to-data-dir', dataDir]);
      expect(`${run.code} ${run.stderr}`).toBe(`0 ${run.stderr}`);
      expect(run.stderr).toContain(`WAL file ${forged.segment}: version ${forged.object} not used: only local-disk of the 3 copy locations holding ${forged.segment} hold it`);
      const plan = JSON.parse(readFileSync(join(dataDir, 'continuity-restore-plan.json'), 'utf8')) as RestorePlan;
      expect(JSON.stringify(plan)).not.toContain(forged.object);
      const planned = plan.files.find((f) => f.partial)!;
      expect(planned.object).toMatch(new RegExp(`^${planned.name}\\.partial\\.[0-9A-F]{8}$`));
      expect(lsnValue(planned.endLsn)).toBeGreaterThanOrEqual(lsnValue(committedAt));
      // The archive moves on while the restore waits: a newer version of the segment, or the segment finished.
      await pollUntil(() => shipped().find((s) => s.name === planned.name && (!s.partial || lsnValue(s.endLsn) > lsnValue(planned.endLsn))), {
        timeoutMs: 30_000,
        what: `a newer shipment of ${planned.name}`,
      });
    } finally {
      writing = false;
      await writes;
    }
    const port = await freePort();
    const pgCtl = join(PG_BIN, 'pg_ctl');
    const args = ['-D', dataDir, '-l', join(dataDir, 'by-hand.log'), '-o', `-p ${port}`, '-w', '-t', '120', 'start'];
    const byHand = spawnSync(asRoot ? 'runuser' : pgCtl, asRoot ? ['-u', 'postgres', '--', pgCtl, ...args] : args, { encoding: 'utf8' });
    expect(`${byHand.status} ${byHand.stderr}`).toBe(`0 ${byHand.stderr}`);
    const client = await restoredClient(port);
    try {
      await pollUntil(async () => ((await client.query<{ rec: boolean }>('SELECT pg_is_in_recovery() AS rec')).rows[0]!.rec ? null : true), { timeoutMs: 60_000, what: 'the restored server promoted' });
      const plan = JSON.parse(readFileSync(join(dataDir, 'continuity-restore-plan.json'), 'utf8')) as RestorePlan;
      const planned = plan.files.find((f) => f.partial)!;
      const log = fetchLog(dataDir);
      expect(log.filter((e) => e.outcome === 'failed')).toEqual([]);
      expect(log.find((e) => e.outcome === 'fetched' && e.name === planned.name)).toMatchObject({ object: planned.object });
      const ids = await idsIn(client);
      expect([...tl1Rows, ...tl2BeforeT, ...tl2AfterT, ...liveRows].filter((id) => !ids.has(id))).toEqual([]);
      const replayed = (await client.query<{ lsn: string }>('SELECT pg_last_wal_replay_lsn()::text AS lsn')).rows[0]!.lsn;
      expect(lsnValue(replayed)).toBeGreaterThanOrEqual(lsnValue(committedAt));
    } finally {
      await client.end();
      forged.remove();
    }
  }, 180_000);

  it('--latest (the archive live): every row of both timelines, the server on a timeline after 2', async () => {
    const port = await freePort();
    const dataDir = join(world.root, 'restored', 'latest');
    started.push(dataDir);
    const run = await restore(['--latest', '--to-data-dir', dataDir, '--start', '--port', String(port)]);
    expect(`${run.code} ${run.stderr}`).toBe(`0 ${run.stderr}`);
    const client = await restoredClient(port);
    try {
      const ids = await idsIn(client);
      expect([...tl1Rows, ...tl2BeforeT, ...tl2AfterT].filter((id) => !ids.has(id))).toEqual([]);
      expect(await timelineOf(client)).toBeGreaterThan(2);
    } finally {
      await client.end();
    }
    expect(fetchedNames(dataDir)).toContain('00000002.history');
  }, 180_000);

  it('with the catalogue database dropped: base backups and WAL listed from the copies\' manifests, said so, and --lsn on timeline 2 restored the same way', async () => {
    const gone = await createTestDatabase('backup_test_gone');
    await gone.drop();
    const port = await freePort();
    const dataDir = join(world.root, 'restored', 'no-catalogue');
    started.push(dataDir);
    const run = await runCli(['restore', RESOURCE, '--lsn', tl2Lsn, '--to-data-dir', dataDir, '--start', '--port', String(port)], { ...env, DATABASE_URL: gone.url });
    expect(`${run.code} ${run.stderr}`).toBe(`0 ${run.stderr}`);
    expect(run.stderr).toMatch(/listed from the copies' manifests \(the locations in the configuration file\), not the catalogue: the catalogue database is not reachable at/);
    expect(run.stdout).toContain(`base backup ${backupId}`);
    expect(run.stdout).toContain("base backups listed from the copies' manifests");
    const client = await restoredClient(port);
    try {
      const ids = await idsIn(client);
      expect([...tl1Rows, ...tl2BeforeT].filter((id) => !ids.has(id))).toEqual([]);
      expect(tl2AfterT.filter((id) => ids.has(id))).toEqual([]);
    } finally {
      await client.end();
    }
  }, 180_000);

  it('--from-copies: a copy whose base backup and manifest were both rewritten is outvoted by the other copies, never restored from, and said so; with neither the catalogue nor NATS the filesystem copies suffice', async () => {
    const artifact = join(world.root, 'local', RESOURCE, `${backupId}.tar.zst`);
    const manifestFile = join(world.root, 'local', RESOURCE, `${backupId}.manifest.json`);
    const original = { artifact: readFileSync(artifact), manifest: readFileSync(manifestFile) };
    const forged = Buffer.from('not the cluster you backed up');
    const manifest = JSON.parse(original.manifest.toString());
    manifest.stored = { sha256: createHash('sha256').update(forged).digest('hex'), sizeBytes: forged.length };
    writeFileSync(artifact, forged);
    writeFileSync(manifestFile, JSON.stringify(manifest));
    try {
      const dataDir = join(world.root, 'restored', 'from-copies');
      const run = await restore(['--latest', '--to-data-dir', dataDir, '--from-copies']);
      expect(`${run.code} ${run.stderr}`).toBe(`0 ${run.stderr}`);
      expect(run.stderr).toContain('not the catalogue: asked for (--from-copies)');
      expect(run.stderr).toContain(`copies of backup ${backupId} disagree on what it holds: using the version nas, vault hold, not local-disk`);
      expect(run.stdout).toMatch(new RegExp(`base backup ${backupId} .* from copy nas, SHA-256 verified`));
      expect(readFileSync(join(dataDir, 'PG_VERSION'), 'utf8').trim()).toMatch(/^\d+$/);
    } finally {
      writeFileSync(artifact, original.artifact);
      writeFileSync(manifestFile, original.manifest);
    }
    // Neither the catalogue nor NATS: the filesystem copies are enough; the restore says what it could not record.
    const alone = join(world.root, 'restored', 'no-nats');
    const run = await runCli(['restore', RESOURCE, '--latest', '--to-data-dir', alone], { ...env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/gone', NATS_URL: 'nats://127.0.0.1:1' });
    expect(`${run.code} ${run.stderr}`).toBe(`0 ${run.stderr}`);
    expect(run.stderr).toContain('NATS is not reachable at NATS_URL=nats://127.0.0.1:1');
    expect(run.stderr).toContain('could not record RestorePerformed: NATS is not reachable');
    expect(run.stdout).toContain(`base backup ${backupId}`);
    // --from-copies and --ledger are for point-in-time restores only.
    const byId = await runCli(['restore', backupId, '--to-data-dir', join(world.root, 'restored', 'by-id'), '--from-copies'], env);
    expect(byId.code).toBe(2);
    expect(byId.stderr).toContain('--from-copies, --ledger and --ledger-key go with a point-in-time target');
  }, 180_000);

  it('--ledger: every WAL file checked against the WalArchived events of the audit ledger (real audit service); a segment whose copies all agree on forged bytes is refused and --latest fails before it', async () => {
    follow.stop();
    await archiver.stop(); // every shipment is final: the ledger can hold them all
    const auditDb = await createTestDatabase('backup_test_audit');
    const audit = await startServiceProcess('audit', {
      DATABASE_URL: auditDb.url,
      CONTINUITY_NAMESPACE: world.topology.namespace,
      AUDIT_SIGNING_KEY_FILE: join(tmpdir(), `continuity-audit-${world.topology.namespace}.pem`),
      AUDIT_EVALUATE_INTERVAL_MS: '0',
    });
    const forged: { path: string; bytes: Buffer }[] = [];
    try {
      await audit.waitForOutput('audit listening', 60_000);
      const base = `http://127.0.0.1:${audit.port}`;
      const shipments = archiver.shipments.length;
      await pollUntil(
        async () => {
          const res = await fetch(`${base}/audit/events?resource=${RESOURCE}&type=WalArchived&limit=1000`, { headers: bearer('auditor') });
          return res.ok && ((await res.json()) as { events: unknown[] }).events.length >= shipments ? true : null;
        },
        { timeoutMs: 60_000, what: `the ${shipments} WalArchived events in the ledger` },
      );
      await pollUntil(
        async () => {
          const res = await fetch(`${base}/audit/events?resource=${RESOURCE}&type=BackupCreated&limit=10`, { headers: bearer('auditor') });
          return res.ok && ((await res.json()) as { events: { envelope: { data: { backupId: string } } }[] }).events.some((e) => e.envelope.data.backupId === backupId) ? true : null;
        },
        { timeoutMs: 60_000, what: `the BackupCreated event of ${backupId} in the ledger` },
      );
      const ledgerEnv = { ...env, CONTINUITY_AUDIT_TOKEN: TEST_TOKENS.auditor };

      // Refused before anything is read: no token, a token in the URL, a token the ledger refuses (never printed).
      const noToken = await restore(['--latest', '--to-data-dir', join(world.root, 'restored', 'l0'), '--ledger', base]);
      expect(noToken.code).toBe(2);
      expect(noToken.stderr).toContain('CONTINUITY_AUDIT_TOKEN');
      const inUrl = await runCli(['restore', RESOURCE, '--latest', '--to-data-dir', join(world.root, 'restored', 'l0'), '--ledger', `http://x:${TEST_TOKENS.auditor}@127.0.0.1:${audit.port}`], ledgerEnv);
      expect(inUrl.code).toBe(2);
      expect(inUrl.stderr).toContain('must not hold credentials');
      const badToken = 'not-a-token-of-this-audit-service-0123456789';
      const refused = await runCli(['restore', RESOURCE, '--latest', '--to-data-dir', join(world.root, 'restored', 'l0'), '--ledger', base], { ...env, CONTINUITY_AUDIT_TOKEN: badToken });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('refused the token in CONTINUITY_AUDIT_TOKEN (401)');
      expect(`${refused.stdout}${refused.stderr}`).not.toContain(badToken);
      expect(existsSync(join(world.root, 'restored', 'l0'))).toBe(false);

      // The honest archive: every file as recorded, nothing refused, every row of both timelines.
      const port = await freePort();
      const honest = join(world.root, 'restored', 'ledger');
      started.push(honest);
      // A "newer" partial version a stranger put into every copy (they agree): no WalArchived records it.
      const strangerVersion = await forgeNewerVersion(['local', 'nas', 'vault']);
      const run = await runCli(['restore', RESOURCE, '--latest', '--to-data-dir', honest, '--start', '--port', String(port), '--ledger', base], ledgerEnv).finally(strangerVersion.remove);
      expect(`${run.code} ${run.stderr}`).toBe(`0 ${run.stderr}`);
      expect(run.stderr).toContain(`WAL file ${strangerVersion.segment}: version ${strangerVersion.object} not used: no WalArchived event in the ledger records it`);
      expect(readFileSync(join(honest, 'continuity-restore-plan.json'), 'utf8')).not.toContain(strangerVersion.object);
      expect(run.stdout).toMatch(new RegExp(`WAL checked against the audit ledger at ${base}: \\d+ WalArchived event\\(s\\), [1-9]\\d* file\\(s\\) as recorded, 0 refused`));
      expect(run.stdout).toContain(`base backup ${backupId} as its BackupCreated in the ledger recorded it (SHA-256 `);
      expect(run.stdout).toContain("the ledger's answer was NOT verified (no --ledger-key)");
      const client = await restoredClient(port);
      try {
        const ids = await idsIn(client);
        expect([...tl1Rows, ...tl2BeforeT, ...tl2AfterT].filter((id) => !ids.has(id))).toEqual([]);
      } finally {
        await client.end();
      }

      // --ledger-key: the ledger's answer is verified, not believed (decision 0043). A head covering every event first.
      const signed = await fetch(`${base}/audit/tree-heads`, { method: 'POST', headers: bearer('operator') });
      expect(signed.status).toBe(201);
      const keyFile = join(world.root, 'ledger-key.pem');
      writeFileSync(keyFile, ((await (await fetch(`${base}/audit/public-key`)).json()) as { publicKeyPem: string }).publicKeyPem);
      const pinned = (dir: string, key = keyFile) => runCli(['restore', RESOURCE, '--latest', '--to-data-dir', join(world.root, 'restored', dir), '--ledger', base, '--ledger-key', key], ledgerEnv);
      const verified = await pinned('ledger-verified');
      expect(`${verified.code} ${verified.stderr}`).toBe(`0 ${verified.stderr}`);
      expect(verified.stdout).toMatch(/the ledger's answer verified: tree head \d+ \(\S+\) signed by key [0-9a-f]{16}… \(pinned, or attested by a pinned key\), [1-9]\d* event\(s\) proven included in it/);
      expect(verified.stdout).toMatch(/WAL checked against the audit ledger at \S+: \d+ WalArchived event\(s\), [1-9]\d* file\(s\) as recorded, 0 refused/);

      // A head signed by a key nobody pinned: refused before anything is written.
      const stranger = join(world.root, 'stranger-key.pem');
      writeFileSync(stranger, createPublicKey(generateKeyPairSync('ed25519').privateKey).export({ format: 'pem', type: 'spki' }).toString());
      const strangerRun = await pinned('ledger-stranger', stranger);
      expect(strangerRun.code).toBe(1);
      expect(strangerRun.stderr).toContain('answered a tree head the pinned key(s) do not vouch for (tree-head check)');
      expect(strangerRun.stderr).toContain('[RESTORE.LEDGER_UNVERIFIED]');
      expect(existsSync(join(world.root, 'restored', 'ledger-stranger'))).toBe(false);

      // The attack: the audit database rewritten behind the service's back (replica mode skips the
      // append-only trigger), so the service itself answers a forged WAL hash.
      const sql = new Client({ connectionString: auditDb.url });
      await sql.connect();
      const {
        rows: [victim],
      } = await sql.query(`select log_index, envelope, leaf_hash from audit.log_entries where resource = $1 and type = 'WalArchived' order by log_index desc limit 1`, [RESOURCE]);
      const tamper = async (envelope: unknown, leaf: Buffer) => {
        await sql.query('set session_replication_role = replica');
        await sql.query('update audit.log_entries set envelope = $1, leaf_hash = $2 where log_index = $3', [envelope, leaf, victim.log_index]);
        await sql.query('set session_replication_role = origin');
      };
      try {
        const forgedEnvelope = structuredClone(victim.envelope);
        forgedEnvelope.data.segments[0].plaintextSha256 = 'f'.repeat(64);
        await tamper(forgedEnvelope, victim.leaf_hash);
        const changed = await pinned('ledger-tampered');
        expect(changed.code).toBe(1);
        expect(changed.stderr).toContain(`(leaf-hash check): entries at log index ${victim.log_index} do not hash to the leaf hashes the ledger lists for them`);
        // The leaf hash rewritten too: no proof fits it into the signed root.
        await tamper(forgedEnvelope, envelopeLeafHash(forgedEnvelope));
        const rehashed = await pinned('ledger-tampered');
        expect(rehashed.code).toBe(1);
        expect(rehashed.stderr).toMatch(new RegExp(`\\(inclusion check\\): entries at log index \\d+…\\d+ \\(\\d+\\), hashed from their envelopes, are NOT included in signed tree head`));
        // … and, each entry of the page then proven alone, the forged one is named (with its Merkle
        // sibling when that is in the page too: the sibling's proof runs through the forged leaf).
        const named = /each proven alone, the entries at log index (.+) are not in it/.exec(rehashed.stderr)?.[1] ?? '';
        expect(named.split(', ')).toContain(`${victim.log_index} (event ${victim.envelope.id})`);
        expect(named.split(', ').length).toBeLessThanOrEqual(2);
        expect(existsSync(join(world.root, 'restored', 'ledger-tampered'))).toBe(false);
      } finally {
        await tamper(victim.envelope, victim.leaf_hash);
        await sql.end();
      }

      // Forged alike in every copy (bytes and manifests agree with each other): only the ledger can tell.
      const original = readFileSync(join(world.root, 'local', artifactPath(walArtifactKey(RESOURCE, lastTl2Segment, false))));
      const forgedPlain = Buffer.concat(await readAll(zstdDecompress(Readable.from([original]))));
      forgedPlain[forgedPlain.length >> 1] ^= 0xff;
      const forgedStored = Buffer.concat(await readAll(zstdCompress(Readable.from([forgedPlain]))));
      for (const dir of ['local', 'nas', 'vault']) {
        const data = join(world.root, dir, artifactPath(walArtifactKey(RESOURCE, lastTl2Segment, false)));
        const manifestPath = data.replace(/\.zst$/, '.manifest.json');
        const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
        forged.push({ path: data, bytes: readFileSync(data) }, { path: manifestPath, bytes: readFileSync(manifestPath) });
        manifest.stored = { sha256: sha(forgedStored), sizeBytes: forgedStored.length };
        manifest.plaintext = { sha256: sha(forgedPlain), sizeBytes: forgedPlain.length };
        writeFileSync(data, forgedStored);
        writeFileSync(manifestPath, JSON.stringify(manifest));
      }
      // Without the ledger, the forged segment is what the plan trusts.
      const trusting = join(world.root, 'restored', 'trusting');
      const plain = await restore(['--latest', '--to-data-dir', trusting]);
      expect(`${plain.code} ${plain.stderr}`).toBe(`0 ${plain.stderr}`);
      expect(readFileSync(join(trusting, 'continuity-restore-plan.json'), 'utf8')).toContain(sha(forgedPlain));

      const port2 = await freePort();
      const checked = join(world.root, 'restored', 'ledger-forged');
      started.push(checked);
      const forgedRun = await runCli(['restore', RESOURCE, '--latest', '--to-data-dir', checked, '--start', '--port', String(port2), '--ledger', base], ledgerEnv);
      expect(forgedRun.code).toBe(1);
      expect(forgedRun.stderr).toContain(`WAL file ${lastTl2Segment} refused: its copies (local-disk, nas, vault) hold ${forgedPlain.length} bytes with SHA-256 ${sha(forgedPlain)}, but the ledger recorded`);
      expect(forgedRun.stderr).toMatch(new RegExp(`the newest archived WAL file \\S+ was not replayed: the ledger check refused ${lastTl2Segment}: recovery stopped at LSN`));
      expect(readFileSync(join(checked, 'continuity-restore-plan.json'), 'utf8')).not.toContain(sha(forgedPlain));
      const stopped = await restoredClient(port2);
      try {
        const ids = await idsIn(stopped);
        // Everything before the refused segment; nothing of what it holds (the rows just before T and after it).
        expect([...tl1Rows, ...tl2BeforeT.slice(0, tl2EarlySegments)].filter((id) => !ids.has(id))).toEqual([]);
        expect([...tl2BeforeT.slice(tl2EarlySegments), ...tl2AfterT].filter((id) => ids.has(id))).toEqual([]);
      } finally {
        await stopped.end();
      }

      // The base backup forged alike in every copy and manifest: listed from the copies, the majority
      // trusts it; the ledger's BackupCreated does not, and nothing is restored.
      const forgedBase = Buffer.from('not the cluster you backed up');
      for (const dir of ['local', 'nas', 'vault']) {
        const data = join(world.root, dir, RESOURCE, `${backupId}.tar.zst`);
        const manifestPath = join(world.root, dir, RESOURCE, `${backupId}.manifest.json`);
        forged.push({ path: data, bytes: readFileSync(data) }, { path: manifestPath, bytes: readFileSync(manifestPath) });
        const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
        manifest.stored = { sha256: sha(forgedBase), sizeBytes: forgedBase.length };
        writeFileSync(data, forgedBase);
        writeFileSync(manifestPath, JSON.stringify(manifest));
      }
      const baseForged = join(world.root, 'restored', 'ledger-base-forged');
      const baseRun = await runCli(['restore', RESOURCE, '--latest', '--to-data-dir', baseForged, '--from-copies', '--ledger', base], ledgerEnv);
      expect(baseRun.code).not.toBe(0);
      expect(baseRun.stderr).toContain(`base backup ${backupId} refused: its copies are listed with ${forgedBase.length} bytes with SHA-256 ${sha(forgedBase)}, but the ledger recorded`);
      expect(baseRun.stderr).toContain('is listed as the audit ledger');
      expect(existsSync(baseForged)).toBe(false);
    } finally {
      for (const f of forged.reverse()) writeFileSync(f.path, f.bytes);
      await audit.stop('SIGTERM');
      await auditDb.drop();
    }
  }, 300_000);
});
