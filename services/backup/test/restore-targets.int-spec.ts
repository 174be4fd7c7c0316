import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { pollUntil } from '@continuity/messaging/testing';
import { bearer, ServiceProcess, startServiceProcess } from '@continuity/runtime/testing';
import { createTestDatabase, databaseUrl, PG_ADMIN_URL, runCli, seedDatabase, startWorld, World } from './harness.js';

const databaseExists = async (name: string) => {
  const c = new Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  } finally {
    await c.end();
  }
};

/** Every entry under `dir`, relative: "nothing written" means this does not change. */
const tree = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort() : [];

describe('restores go only where the configuration allows (real service process, PostgreSQL, NATS)', () => {
  let world: World;
  let source: Awaited<ReturnType<typeof createTestDatabase>>;
  let proc: ServiceProcess;
  let env: Record<string, string>;
  let base: string;
  let allowed: string;
  let outside: string;
  let filesBackup: string;
  let ordersBackup: string;
  const restoredDatabases: string[] = [];

  beforeAll(async () => {
    world = await startWorld('bktgt');
    source = await createTestDatabase('backup_test_tgt');
    await seedDatabase(source.url);
    const files = join(world.root, 'files');
    mkdirSync(join(files, 'sub'), { recursive: true });
    writeFileSync(join(files, 'a.txt'), 'alpha\n');
    writeFileSync(join(files, 'sub', 'b.txt'), 'beta\n');
    allowed = join(world.root, 'allowed');
    outside = join(world.root, 'outside');
    mkdirSync(allowed);
    mkdirSync(outside);
    // A link inside the allowed directory that leads out of it.
    symlinkSync(outside, join(allowed, 'escape'));
    const config = world.configFile(`
resources:
  files: { kind: directory, site: eu-west-1a, path: ${files}, restoreTargets: [${allowed}] }
  orders-db: { kind: postgres, site: eu-west-1a, connection: "${source.url}", restoreTargets: ["${databaseUrl(`${source.name}_ok_*`)}"] }
  unlisted: { kind: directory, site: eu-west-1a, path: ${files} }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
policies:
  files-p: { resource: files, copies: [local-disk], threeTwoOne: { optOut: "a test of restore targets" } }
  orders-p: { resource: orders-db, copies: [local-disk], threeTwoOne: { optOut: "a test of restore targets" } }
  unlisted-p: { resource: unlisted, copies: [local-disk], threeTwoOne: { optOut: "a test of restore targets" } }
`);
    env = { CONTINUITY_NAMESPACE: world.topology.namespace, DATABASE_URL: world.db.url, CONTINUITY_CONFIG: config, NATS_URL: 'nats://127.0.0.1:4222' };
    proc = await startServiceProcess('backup', { ...env, BACKUP_SCHEDULER: 'off' });
    await proc.waitForOutput(`backup listening on http://127.0.0.1:${proc.port}`);
    base = `http://127.0.0.1:${proc.port}`;
    [filesBackup, ordersBackup] = await Promise.all(['files', 'orders-db'].map((resource) => backUp(resource)));
  });

  afterAll(async () => {
    await proc?.stop('SIGTERM');
    const admin = new Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    for (const name of restoredDatabases) if (name.includes('test')) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
    await source?.drop();
    await world?.close();
  });

  const post = (path: string, body: unknown) =>
    fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer('operator') }, body: JSON.stringify(body) });
  const get = async (path: string): Promise<any> => (await fetch(`${base}${path}`, { headers: bearer('viewer') })).json();
  const backUp = async (resource: string) => {
    const { backupId } = (await (await post('/backups', { resource })).json()) as any;
    await pollUntil(async () => {
      const b = await get(`/backups/${backupId}`);
      if (b.state === 'failed') throw new Error(`backup failed: ${JSON.stringify(b.error)}`);
      return b.state === 'created';
    }, { what: `the backup of ${resource}`, timeoutMs: 20_000 });
    return backupId as string;
  };
  const restoreOver = async (backupId: string, body: unknown) => {
    const response = await post(`/backups/${backupId}/restore`, body);
    return { status: response.status, body: (await response.json()) as any };
  };
  const finished = (restoreId: string) =>
    pollUntil(async () => {
      const job = await get(`/restores/${restoreId}`);
      return job.state === 'running' ? null : job;
    }, { what: `restore ${restoreId}`, timeoutMs: 20_000 });
  const performed = (restoreId: string) =>
    pollUntil(async () => (await world.events('RestorePerformed')).find((e) => e.data.restoreId === restoreId), { what: `RestorePerformed of ${restoreId}` });

  it('refuses a directory outside the allowed ones: an absolute path, a ../ escape, a symlink escape (403, nothing written)', async () => {
    const before = { outside: tree(outside), allowed: tree(allowed) };
    for (const [to, resolvesTo] of [
      [join(outside, 'abs'), null],
      [`${allowed}/../outside/dotdot`, join(outside, 'dotdot')],
      [join(allowed, 'escape', 'link'), join(outside, 'link')],
    ] as const) {
      const refused = await restoreOver(filesBackup, { to });
      expect({ to, status: refused.status, code: refused.body.code }).toEqual({ to, status: 403, code: 'RESTORE.TARGET_NOT_ALLOWED' });
      expect(refused.body.message).toBe(
        `restoring files to ${to} is not allowed${resolvesTo ? ` (it resolves to ${resolvesTo})` : ''}: its restoreTargets are ${allowed}`,
      );
      expect(refused.body.allowedTargets).toEqual([allowed]);
    }
    expect({ outside: tree(outside), allowed: tree(allowed) }).toEqual(before);
    // A resource without restoreTargets restores nowhere over HTTP.
    const unlisted = await backUp('unlisted');
    const none = await restoreOver(unlisted, { to: join(allowed, 'unlisted') });
    expect({ status: none.status, message: none.body.message }).toEqual({
      status: 403,
      message: `restoring unlisted to ${join(allowed, 'unlisted')} is not allowed: unlisted lists no restoreTargets in the configuration`,
    });
    expect(existsSync(join(allowed, 'unlisted'))).toBe(false);
  });

  it('refuses a PostgreSQL database not allowed: another name, another port, other credentials, a parameter redirecting the host (403, no database created)', async () => {
    const url = (database: string, over: { port?: string; user?: string; password?: string; search?: string } = {}) => {
      const u = new URL(databaseUrl(database));
      if (over.port) u.port = over.port;
      if (over.user) u.username = over.user;
      if (over.password) u.password = over.password;
      if (over.search) u.search = over.search;
      return u.toString();
    };
    const attempts = [
      [url(`${source.name}_other`), `${source.name}_other`],
      [url(`${source.name}_ok_port`, { port: '5433' }), `${source.name}_ok_port`],
      [url(`${source.name}_ok_creds`, { user: 'intruder', password: 'guess' }), `${source.name}_ok_creds`],
      [url(`${source.name}_other_creds`, { user: 'postgres', password: 'hunter2' }), `${source.name}_other_creds`],
      [url(`${source.name}_ok_host`, { search: '?host=127.0.0.2' }), `${source.name}_ok_host`],
    ] as const;
    for (const [to, database] of attempts) {
      const refused = await restoreOver(ordersBackup, { to });
      expect({ to, status: refused.status, code: refused.body.code }).toEqual({ to, status: 403, code: 'RESTORE.TARGET_NOT_ALLOWED' });
      expect(refused.body.message).toContain(`its restoreTargets are ${databaseUrl(`${source.name}_ok_*`)}`);
      expect(refused.body.message).not.toMatch(/guess|hunter2/);
      expect(await databaseExists(database)).toBe(false);
    }
  });

  it('takes no keyFile from the request (400 naming the field): the key comes from the policy', async () => {
    const refused = await restoreOver(filesBackup, { to: join(allowed, 'key'), keyFile: '/etc/shadow' });
    expect({ status: refused.status, message: refused.body.message }).toEqual({ status: 400, message: 'keyFile: unknown field' });
    expect(existsSync(join(allowed, 'key'))).toBe(false);
  });

  it('restores into an allowed directory; over a non-empty one only with clean; each restore publishes RestorePerformed with overwritten right', async () => {
    const target = join(allowed, 'uploads');
    const first = await restoreOver(filesBackup, { to: target });
    expect(first.status).toBe(202);
    expect(await finished(first.body.restoreId)).toMatchObject({ state: 'restored' });
    expect(readFileSync(join(target, 'sub', 'b.txt'), 'utf8')).toBe('beta\n');
    expect((await performed(first.body.restoreId)).data).toMatchObject({
      backupId: filesBackup,
      targetKind: 'directory',
      target,
      overwritten: false,
      outcome: 'restored',
      copy: 'local-disk',
      requestedBy: { via: 'http', operator: null },
      targetAllowedBy: 'configuration',
    });

    writeFileSync(join(target, 'a.txt'), 'changed since\n');
    const unclean = await restoreOver(filesBackup, { to: target });
    const refused = await finished(unclean.body.restoreId);
    expect(refused).toMatchObject({ state: 'failed', error: { code: 'RESTORE.TARGET_NOT_EMPTY' } });
    expect(readFileSync(join(target, 'a.txt'), 'utf8')).toBe('changed since\n');
    expect((await performed(unclean.body.restoreId)).data).toMatchObject({ outcome: 'failed', overwritten: false, error: expect.stringContaining('is not empty') });

    const clean = await restoreOver(filesBackup, { to: target, clean: true });
    expect(await finished(clean.body.restoreId)).toMatchObject({ state: 'restored' });
    expect(readFileSync(join(target, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect((await performed(clean.body.restoreId)).data).toMatchObject({ outcome: 'restored', overwritten: true });
    expect(readdirSync(allowed).filter((n) => n.startsWith('.'))).toEqual([]); // no staging or replaced directory left
  });

  it('restores into an allowed database, and over it only with clean', async () => {
    const name = `${source.name}_ok_1`;
    restoredDatabases.push(name);
    const first = await restoreOver(ordersBackup, { to: databaseUrl(name) });
    expect(first.status).toBe(202);
    expect(await finished(first.body.restoreId)).toMatchObject({ state: 'restored' });
    expect((await performed(first.body.restoreId)).data).toMatchObject({ targetKind: 'postgres', target: databaseUrl(name), overwritten: false, outcome: 'restored' });
    const unclean = await restoreOver(ordersBackup, { to: databaseUrl(name) });
    expect(await finished(unclean.body.restoreId)).toMatchObject({ state: 'failed', error: { code: 'RESTORE.TARGET_NOT_EMPTY' } });
    const clean = await restoreOver(ordersBackup, { to: databaseUrl(name), clean: true });
    expect(await finished(clean.body.restoreId)).toMatchObject({ state: 'restored' });
    expect((await performed(clean.body.restoreId)).data).toMatchObject({ overwritten: true, outcome: 'restored' });
  });

  it('the CLI refuses a target not allowed (exit 4, naming the resource and its targets) unless told --allow-any-target, which is recorded', async () => {
    const to = join(outside, 'cli');
    const refused = await runCli(['restore', filesBackup, '--to', to], env);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(`continuity: restoring files to ${to} is not allowed: its restoreTargets are ${allowed} [RESTORE.TARGET_NOT_ALLOWED]`);
    expect(existsSync(to)).toBe(false);

    const forced = await runCli(['restore', filesBackup, '--to', to, '--allow-any-target'], env);
    expect({ code: forced.code, stderr: forced.stderr }).toEqual({ code: 0, stderr: '' });
    expect(readFileSync(join(to, 'a.txt'), 'utf8')).toBe('alpha\n');
    const event = await pollUntil(async () => (await world.events('RestorePerformed')).find((e) => e.data.target === to), { what: 'RestorePerformed of the CLI restore' });
    expect(event.data).toMatchObject({ requestedBy: { via: 'cli', operator: expect.any(String) }, targetAllowedBy: 'allow-any-target', outcome: 'restored' });
  });
});
