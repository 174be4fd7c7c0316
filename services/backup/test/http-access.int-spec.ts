import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pollUntil } from '@continuity/messaging/testing';
import { bearer, callAsStrangers, MutatingRoute, refusedToStrangers, ServiceProcess, startServiceProcess } from '@continuity/runtime/testing';
import { startWorld, World } from './harness.js';

/** Whoever can reach the port but holds no operator token can neither start a backup nor restore one anywhere. */
describe('backup HTTP access (real process, NATS, PostgreSQL)', () => {
  let world: World;
  let proc: ServiceProcess;
  let base: string;

  beforeAll(async () => {
    world = await startWorld('bkacc');
    const tree = world.tree('tree', { 'a.txt': 'alpha\n' });
    const config = world.configFile(`
resources:
  files: { kind: directory, site: eu-west-1a, path: ${tree} }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${world.root}/local }
  nas: { kind: filesystem, site: eu-west-1b, medium: nas, path: ${world.root}/nas }
  offsite: { kind: object-store, site: eu-central-1, bucket: ${world.bucket('access')} }
policies:
  files-policy: { resource: files, copies: [local-disk, nas, offsite], retention: { keepLast: 5 } }
`);
    proc = await startServiceProcess('backup', { CONTINUITY_NAMESPACE: world.topology.namespace, DATABASE_URL: world.db.url, CONTINUITY_CONFIG: config, BACKUP_SCHEDULER: 'off' });
    await proc.waitForOutput(`backup listening on http://127.0.0.1:${proc.port}`);
    base = `http://127.0.0.1:${proc.port}`;
  });

  afterAll(async () => {
    await proc?.stop('SIGTERM');
    await world?.close();
  });

  const backups = async () => ((await (await fetch(`${base}/backups`, { headers: bearer('viewer') })).json()) as { backups: { backupId: string; state: string }[] }).backups;

  it('refuses POST /backups and POST /backups/{id}/restore to an anonymous caller, a viewer and an auditor, and starts nothing', async () => {
    const started = await fetch(`${base}/backups`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer('operator') }, body: JSON.stringify({ resource: 'files' }) });
    expect(started.status).toBe(202);
    const { backupId } = (await started.json()) as { backupId: string };
    await pollUntil(async () => (await backups()).find((b) => b.backupId === backupId && b.state === 'created'), { what: 'the operator’s backup' });

    const target = join(world.root, 'stolen');
    const routes: MutatingRoute[] = [
      { method: 'POST', path: '/backups', body: { resource: 'files' } },
      { method: 'POST', path: `/backups/${backupId}/restore`, body: { to: target } },
      { method: 'POST', path: '/resources/files/restore', body: { latest: true, toDataDir: target } },
      { method: 'POST', path: '/dlq/1/replay' },
    ];
    expect(await callAsStrangers(base, routes)).toEqual(refusedToStrangers(routes));
    // What a cross-site form in an operator's browser would send: refused before any route.
    const form = await fetch(`${base}/backups/${backupId}/restore`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `to=${encodeURIComponent(target)}` });
    expect(form.status).toBe(415);

    expect((await backups()).map((b) => b.backupId)).toEqual([backupId]);
    expect(await world.events('BackupCreated')).toHaveLength(1);
    expect(existsSync(target)).toBe(false);
  });
});
