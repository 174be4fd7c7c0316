import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { nkeyAuthenticator } from '@nats-io/transport-node';
import { RESTORE_PLAN_FILE, RESTORE_PLAN_FORMAT, WAL_FETCH_LOG, type RestorePlan } from '@continuity/artifacts';
import type { WalSegment } from '@continuity/contracts';
import { startNatsCluster, type NatsCluster } from '@continuity/messaging/testing';
import { LocationRegistry } from '../src/backup-run/locations/location.registry.js';
import { parseBackupConfig } from '../src/config/backup-config.loader.js';
import { walRecordsFromCopies } from '../src/restore/archive-index.js';
import type { ArchivedWal } from '../src/restore/pitr-plan.policy.js';
import { shipWalFile } from '../src/wal/wal-file-shipper.js';
import { tempDir } from './harness.js';

const NAME = '000000010000000000000002';
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;

/**
 * wal-fetch (PostgreSQL's restore_command) reading a WAL copy from an object store on a NATS that
 * requires credentials: the nkey seed file the plan names, or the identity in its environment.
 */
describe('wal-fetch from an object store on a NATS requiring credentials (real nats-server with an authorization block)', () => {
  let nats: NatsCluster;
  let root: string;
  let seedFile: string;
  let segment: WalSegment;
  let original: Buffer;
  let listed: ArchivedWal[];
  const user = createUser();
  const seed = new TextDecoder().decode(user.getSeed());

  beforeAll(async () => {
    root = tempDir('wal-fetch-os');
    nats = await startNatsCluster({
      size: 1,
      extraConfig: `authorization { users: [ { nkey: ${user.getPublicKey()} }, { user: restorer, password: "${PASSWORD}" } ] }`,
      auth: { authenticator: nkeyAuthenticator(user.getSeed()) },
    });
    seedFile = join(root, 'restore.nk');
    writeFileSync(seedFile, `${seed}\n`, { mode: 0o600 });
    const config = await parseBackupConfig(
      join(root, 'c.yaml'),
      `
resources:
  pg: { kind: postgres, site: a, connection: "postgres://x@127.0.0.1/db" }
locations:
  far: { kind: object-store, site: b, medium: object, bucket: walfetch_${randomBytes(3).toString('hex')}, natsUrl: "${nats.urls}", replicas: 1 }
policies:
  p: { resource: pg, method: basebackup, copies: [far], threeTwoOne: { optOut: test }, wal: { enabled: true } }
`,
    );
    // Shipped as the archiver ships it, with the archiver's own credentials.
    const locations = new LocationRegistry(config, null as never, 1, { authenticator: nkeyAuthenticator(user.getSeed()) });
    original = randomBytes(1 << 20);
    writeFileSync(join(root, NAME), original);
    segment = await shipWalFile(config.policies.get('p')!, locations, { name: NAME, path: join(root, NAME), partial: false }, () => new Date());
    // Without the catalogue, the restore finds it by listing the object store.
    listed = await walRecordsFromCopies(config.policies.get('p')!, (name) => locations.get(name), () => undefined);
    await locations.close();
  }, 60_000);

  afterAll(async () => {
    await nats?.remove();
    rmSync(root, { recursive: true, force: true });
  });

  const planIn = (dir: string, nats: RestorePlan['nats']) => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'pg_wal'), { recursive: true });
    const plan: RestorePlan = {
      format: RESTORE_PLAN_FORMAT,
      resource: 'pg',
      backupId: 'b',
      target: { kind: 'latest', value: null },
      recordsFrom: 'test',
      encryption: null,
      locations: [{ name: 'far', kind: 'object-store', bucket: segment.copies[0]!.uri.split('/')[2]!, natsUrl: nats_urls() }],
      nats,
      files: [{ name: NAME, timeline: 1, startLsn: segment.startLsn, endLsn: segment.endLsn, partial: false, plaintextSha256: segment.plaintextSha256, plaintextSizeBytes: segment.plaintextSizeBytes, copies: [{ location: 'far', sha256: segment.sha256, sizeBytes: segment.sizeBytes }] }],
    };
    writeFileSync(join(dir, RESTORE_PLAN_FILE), JSON.stringify(plan));
    return dir;
  };
  const nats_urls = () => nats.urls;
  /** Runs the built wal-fetch in `dir` as PostgreSQL would, with only `env`'s NATS settings. */
  const walFetch = (dir: string, env: Record<string, string> = {}) =>
    new Promise<{ code: number | null; stderr: string; log: string }>((resolve) => {
      const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('NATS_')));
      const child = spawn(process.execPath, [join(__dirname, '..', 'dist', 'cli', 'wal-fetch.main.js'), NAME, 'pg_wal/RECOVERYXLOG'], { cwd: dir, env: { ...clean, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c) => (stderr += c));
      child.once('exit', (code) => resolve({ code, stderr, log: existsSync(join(dir, WAL_FETCH_LOG)) ? readFileSync(join(dir, WAL_FETCH_LOG), 'utf8') : '' }));
    });

  it('the WAL an object store holds is found by listing it (no catalogue, no filesystem copy)', () => {
    expect(listed).toEqual([expect.objectContaining({ name: NAME, plaintextSha256: segment.plaintextSha256, copies: [{ location: 'far', sha256: segment.sha256, sizeBytes: segment.sizeBytes }] })]);
  });

  it('with the nkey seed file the plan names: fetched, hash-checked, written', async () => {
    const dir = planIn(join(root, 'seed'), { NATS_NKEY_SEED_FILE: seedFile });
    const run = await walFetch(dir);
    expect(`${run.code} ${run.stderr}`).toBe(`0 ${run.stderr}`);
    expect(readFileSync(join(dir, 'pg_wal', 'RECOVERYXLOG')).equals(original)).toBe(true);
    expect(JSON.parse(run.log.trim())).toMatchObject({ outcome: 'fetched', name: NAME, copy: 'far' });
    expect(readFileSync(join(dir, RESTORE_PLAN_FILE), 'utf8')).not.toContain(seed);
  }, 30_000);

  it('with a user and password in its environment (the server\'s, as the restore that starts it passes on): fetched', async () => {
    const dir = planIn(join(root, 'env'), null);
    const run = await walFetch(dir, { NATS_USER: 'restorer', NATS_PASSWORD: PASSWORD });
    expect(`${run.code} ${run.stderr}`).toBe(`0 ${run.stderr}`);
    expect(readFileSync(join(dir, 'pg_wal', 'RECOVERYXLOG')).equals(original)).toBe(true);
  }, 30_000);

  it('no credentials, a wrong password, or a seed file others can read: not fetched, the failure logged for the restore to report, no secret printed', async () => {
    const none = await walFetch(planIn(join(root, 'none'), null));
    expect(none.code).toBe(1);
    expect(JSON.parse(none.log.trim())).toMatchObject({ outcome: 'failed', name: NAME, refused: [{ location: 'far', error: expect.stringMatching(/authoriz/i) }] });

    const wrong = `${PASSWORD}-wrong`;
    const badPassword = await walFetch(planIn(join(root, 'wrong'), null), { NATS_USER: 'restorer', NATS_PASSWORD: wrong });
    expect(badPassword.code).toBe(1);
    expect(`${badPassword.stderr}${badPassword.log}`).not.toContain(wrong);

    const loose = join(root, 'loose.nk');
    writeFileSync(loose, `${seed}\n`);
    chmodSync(loose, 0o644);
    const leaked = await walFetch(planIn(join(root, 'loose'), { NATS_NKEY_SEED_FILE: loose }));
    expect(leaked.code).toBe(1);
    expect(leaked.log).toContain('NATS_NKEY_SEED_FILE');
    expect(leaked.log).toContain('chmod 600');
    expect(`${leaked.stderr}${leaked.log}`).not.toContain(seed);
    expect(existsSync(join(root, 'loose', 'pg_wal', 'RECOVERYXLOG'))).toBe(false);
  }, 60_000);
});
