import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import { ContinuityPublisher, eventSubject } from '@continuity/contracts';
import { anEvent, anIntegrityVerifiedData } from '@continuity/contracts/testing';
import { pollUntil, readDeadLetters } from '@continuity/messaging/testing';
import { bearer, ServiceProcess, startServiceProcess } from '@continuity/runtime/testing';
import { runCli, startWorld, World } from './harness.js';

describe('backup service process: API, retention, schedule, bad config, CLI (real NATS, PostgreSQL, filesystem)', () => {
  let world: World;
  let proc: ServiceProcess;
  let env: Record<string, string>;
  /** Verdicts come from the verifier: the backup service acts on no one else's. */
  const verifier = () => new ContinuityPublisher(jetstream(world.nc), { source: 'verifier', topology: world.topology });
  let base: string;
  let tree: string;

  const yaml = (root: string, policies: string) => `
resources:
  files: { kind: directory, site: eu-west-1a, path: ${tree}, restoreTargets: [${root}] }
  ticking: { kind: directory, site: eu-west-1a, path: ${tree}, include: ['a.txt'] }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: ${root}/local }
  nas: { kind: filesystem, site: eu-west-1b, medium: nas, path: ${root}/nas }
  offsite: { kind: object-store, site: eu-central-1, bucket: BUCKET }
policies:
${policies}`;

  beforeAll(async () => {
    world = await startWorld('bkapi');
    tree = join(world.root, 'tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    writeFileSync(join(tree, 'a.txt'), 'alpha\n');
    writeFileSync(join(tree, 'sub/b.bin'), Buffer.alloc(256 * 1024, 7));
    const config = world.configFile(
      yaml(
        world.root,
        `  files-policy: { resource: files, copies: [local-disk, nas, offsite], retention: { keepLast: 1 } }
  ticking-policy: { resource: ticking, schedule: every 1s, copies: [local-disk, nas, offsite], retention: { keepLast: 2 } }
`,
      ).replace('BUCKET', world.bucket('api')),
    );
    env = { CONTINUITY_NAMESPACE: world.topology.namespace, DATABASE_URL: world.db.url, CONTINUITY_CONFIG: config, NATS_URL: 'nats://127.0.0.1:4222' };
    proc = await startServiceProcess('backup', env);
    await proc.waitForOutput(`backup listening on http://127.0.0.1:${proc.port}`);
    base = `http://127.0.0.1:${proc.port}`;
  });

  afterAll(async () => {
    await proc?.stop('SIGTERM');
    await world?.close();
  });

  const post = (path: string, body: unknown) => fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer('operator') }, body: JSON.stringify(body) });
  const get = async (path: string): Promise<any> => (await fetch(`${base}${path}`, { headers: bearer('viewer') })).json();
  const waitFor = (backupId: string, state = 'created') =>
    pollUntil(async () => {
      const b = await get(`/backups/${backupId}`);
      if (b.state === 'failed' && state !== 'failed') throw new Error(`backup failed: ${JSON.stringify(b.error)}`);
      return b.state === state ? b : null;
    }, { what: `backup ${backupId} to be ${state}`, timeoutMs: 15_000 });

  it('says which field is wrong (400) and which resource is unknown (404)', async () => {
    const bad = await post('/backups', { resourse: 'files' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).message).toBe('resource: is required: the resource to back up; resourse: unknown field');
    const unknown = await post('/backups', { resource: 'billing-db' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as any).message).toMatch(/^unknown resource "billing-db" \(protected: files, ticking\)$/);
    expect((await fetch(`${base}/backups/01935c3e-7b1a-7cc2-9a55-3f8d2f1e0b6a`, { headers: bearer('viewer') })).status).toBe(404);
  });

  let first: string;
  it('runs one backup per resource at a time: 202 with the id, a concurrent request 409, then state and progress', async () => {
    const [a, b] = await Promise.all([post('/backups', { resource: 'files' }), post('/backups', { resource: 'files' })]);
    expect([a.status, b.status].sort()).toEqual([202, 409]);
    const accepted: any = await (a.status === 202 ? a : b).json();
    const refused: any = await (a.status === 409 ? a : b).json();
    expect(accepted).toMatchObject({ resource: 'files', state: 'running', backupId: expect.any(String) });
    expect(refused.message).toBe(`a backup of files is already running (${accepted.backupId}); wait for it to finish`);
    expect(refused.runningBackupId).toBe(accepted.backupId);
    first = accepted.backupId;
    const done = await waitFor(first);
    expect(done).toMatchObject({ resource: 'files', policy: 'files-policy', trigger: 'api', progress: { percent: 100 }, threeTwoOne: { compliant: true } });
    expect(done.progress.bytesDone).toBe(done.plaintext.sizeBytes);
    expect(done.copies.map((c: { location: string }) => c.location)).toEqual(['local-disk', 'nas', 'offsite']);
    const list = await get('/backups?resource=files');
    expect(list.backups.map((x: { backupId: string }) => x.backupId)).toContain(first);
  });

  it('expires by retention with BackupExpired, but never the newest verified backup', async () => {
    await verifier().publish('IntegrityVerified', { resource: 'files', data: anIntegrityVerifiedData({ backupId: first, verdict: 'passed' }) });
    await pollUntil(async () => (await get(`/backups/${first}`)).verification?.verdict === 'passed', { what: 'the verdict to be recorded' });

    const second = ((await (await post('/backups', { resource: 'files' })).json()) as any).backupId;
    await waitFor(second);
    expect((await get(`/backups/${first}`)).state).toBe('created'); // keepLast 1, but it is the newest verified

    const third = ((await (await post('/backups', { resource: 'files' })).json()) as any).backupId;
    await waitFor(third);
    const expired = await waitFor(second, 'expired');
    expect((await get(`/backups/${first}`)).state).toBe('created');
    const events = await pollUntil(async () => {
      const expired = (await world.events('BackupExpired', 'files')).filter((e) => e.data.backupId === second);
      return expired.length > 0 ? expired : null; // an empty list is truthy: wait for the event itself
    }, {
      what: 'BackupExpired',
    });
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ policy: 'files-policy', reason: 'beyond keep-last 1' });
    expect(events[0]!.data.copies.map((c: { location: string; deleted: boolean }) => [c.location, c.deleted])).toEqual([
      ['local-disk', true],
      ['nas', true],
      ['offsite', true],
    ]);
    for (const copy of expired.copies.filter((c: { uri: string }) => c.uri.startsWith('file:'))) expect(existsSync(fileURLToPath(copy.uri))).toBe(false);
  });

  it('records verdicts idempotently: a redelivered or older verdict changes nothing; a malformed one is dead-lettered', async () => {
    const backupId = (await get('/backups?resource=files&state=created')).backups[0].backupId;
    // Within the allowed skew ahead (EVENT_MAX_FUTURE_SKEW_MS), so newer than any verdict so far.
    const later = new Date(Date.now() + 120_000).toISOString();
    const earlier = new Date(Date.now() + 60_000).toISOString();
    const passed = anEvent('IntegrityVerified', { resource: 'files', occurredAt: later, data: anIntegrityVerifiedData({ backupId, verdict: 'passed', trigger: 'scrub' }) });
    await verifier().publishEnvelope(passed);
    await pollUntil(async () => (await get(`/backups/${backupId}`)).verification?.occurredAt === later, { what: 'the verdict' });
    // The same event again (a redelivery after the dedupe window), then an older "failed" verdict.
    await jetstream(world.nc).publish(eventSubject('IntegrityVerified', 'files', world.topology), JSON.stringify(passed));
    const older = anEvent('IntegrityVerified', { resource: 'files', occurredAt: earlier, data: anIntegrityVerifiedData({ backupId, verdict: 'failed' }) });
    await verifier().publishEnvelope(older);
    const poison = await jetstream(world.nc).publish(
      eventSubject('IntegrityVerified', 'files', world.topology),
      JSON.stringify({ ...anEvent('IntegrityVerified', { resource: 'files' }), data: { backupId: 'not-a-uuid' } }),
    );
    const letter = await pollUntil(async () => (await readDeadLetters(world.nc, world.topology)).find((l) => l.streamSequence === poison.seq), { what: 'the dead letter' });
    expect(letter.reason).toMatch(/^invalid event: ContractViolationError: IntegrityVerified v1 is invalid: data.backupId/);
    await pollUntil(async () => proc.output().includes(`IntegrityVerified ${backupId} of files: failed`), { what: 'the older verdict to be handled' });
    expect((await get(`/backups/${backupId}`)).verification).toEqual({ verdict: 'passed', trigger: 'scrub', occurredAt: later });
  });

  it('does not act on a verdict forged by another source, nor on one dated beyond the allowed skew: both are dead-lettered with the reason', async () => {
    const backupId = (await get('/backups?resource=files&state=created')).backups[0].backupId;
    const before = (await get(`/backups/${backupId}`)).verification;
    // The backup service's own name on a "failed" verdict newer than every other: only the verifier publishes verdicts.
    const forged = await world.publisher.publish('IntegrityVerified', {
      resource: 'files',
      occurredAt: new Date(Date.now() + 180_000),
      data: anIntegrityVerifiedData({ backupId, verdict: 'failed', trigger: 'manual' }),
    });
    // The verifier's name, dated a year ahead: it would win over every later verdict for good.
    const ahead = await verifier().publish('IntegrityVerified', {
      resource: 'files',
      occurredAt: new Date(Date.now() + 365 * 86_400_000),
      data: anIntegrityVerifiedData({ backupId, verdict: 'failed', trigger: 'manual' }),
    });
    const letters = await pollUntil(async () => {
      const all = await readDeadLetters(world.nc, world.topology);
      const found = [forged, ahead].map((p) => all.find((l) => l.streamSequence === p.seq));
      return found.every(Boolean) ? found : null;
    }, { what: 'both refused verdicts in the dead-letter stream' });
    expect(letters[0]!.reason).toBe(
      'refused (unauthorized-source): source "backup" may not publish IntegrityVerified for files; it is published by verifier',
    );
    expect(letters[1]!.reason).toMatch(/^refused \(future-dated\): occurredAt .* in the future \(more than EVENT_MAX_FUTURE_SKEW_MS=300000\)$/);
    expect(proc.output()).not.toContain(`IntegrityVerified ${backupId} of files: failed (manual)`);
    expect((await get(`/backups/${backupId}`)).verification).toEqual(before);
  });

  it('restores through the API', async () => {
    const latest = (await get('/backups?resource=files&state=created')).backups[0].backupId;
    const target = join(world.root, 'api-restore');
    const started = await post(`/backups/${latest}/restore`, { to: target });
    expect(started.status).toBe(202);
    const { restoreId } = (await started.json()) as any;
    const job = await pollUntil(async () => {
      const j = await get(`/restores/${restoreId}`);
      if (j.state === 'failed') throw new Error(j.error.message);
      return j.state === 'restored' ? j : null;
    }, { what: 'the restore' });
    expect(job.result.copy.location).toBe('local-disk');
    expect(readFileSync(join(target, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(readFileSync(join(target, 'sub/b.bin')).equals(Buffer.alloc(256 * 1024, 7))).toBe(true);
  });

  it('runs a policy on its schedule', async () => {
    const scheduled = await pollUntil(async () => (await get('/backups?resource=ticking&state=created')).backups.find((b: { trigger: string }) => b.trigger === 'schedule'), {
      what: 'a scheduled backup',
      timeoutMs: 15_000,
    });
    expect(scheduled.policy).toBe('ticking-policy');
  });

  it('the CLI backs up with a summary of id, size and copies, lists, and restores', async () => {
    const backup = await runCli(['backup', 'files'], env);
    expect(backup.stderr).not.toMatch(/continuity: /);
    expect({ code: backup.code, stderr: backup.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const id = /^backup ([0-9a-f-]{36}) of files created$/m.exec(backup.stdout)?.[1];
    expect(id).toBeDefined();
    expect(backup.stdout).toMatch(/^ {2}size {5}\d+(\.\d+)? KiB \(\d+ bytes\)$/m);
    expect(backup.stdout).toMatch(/^ {2}copies {3}3$/m);
    expect(backup.stdout).toMatch(/^ {4}offsite +nats-object:\/\//m);

    const list = await runCli(['list', 'files'], env);
    expect(list.stdout).toContain(id!);

    const target = join(world.root, 'cli-restore');
    const restore = await runCli(['restore', id!, '--to', target], env);
    expect({ code: restore.code, stderr: restore.stderr }).toEqual({ code: 0, stderr: '' });
    expect(restore.stdout).toMatch(new RegExp(`^restored backup ${id} of files into ${target}$`, 'm'));
    expect(readFileSync(join(target, 'a.txt'), 'utf8')).toBe('alpha\n');

    const unknown = await runCli(['backup', 'nope'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('continuity: unknown resource "nope"');
  });

  it('stops with a message naming the file and the key, for each of several broken files', async () => {
    const broken = {
      unknownLocation: yaml(world.root, '  p: { resource: files, copies: [local-disk, nass, offsite] }\n'),
      notThreeTwoOne: yaml(world.root, '  p: { resource: files, copies: [local-disk, nas] }\n'),
      typo: yaml(world.root, '  p: { resource: files, copies: [local-disk, nas, offsite], retension: { keepLast: 3 } }\n'),
      badSchedule: yaml(world.root, '  p: { resource: files, schedule: "every tuesday", copies: [local-disk, nas, offsite] }\n'),
    };
    const expected: Record<keyof typeof broken, string> = {
      unknownLocation: 'policies.p.copies.1 (line 10): unknown location "nass" (known: local-disk, nas, offsite)',
      notThreeTwoOne: 'policies.p.copies (line 10): does not meet 3-2-1: three-copies: needs at least 3 copies, has 2 (local-disk, nas)',
      typo: 'policies.p.retension (line 10): unknown key',
      badSchedule: 'policies.p.schedule (line 10): "every tuesday" is neither a cron expression',
    };
    const results = await Promise.all(
      Object.entries(broken).map(async ([name, text]) => {
        const file = world.configFile(text.replace('BUCKET', 'unused'));
        const bad = await startServiceProcess('backup', { ...env, CONTINUITY_CONFIG: file });
        return { name, file, code: await bad.exited, output: bad.output() };
      }),
    );
    for (const r of results) {
      expect({ name: r.name, code: r.code }).toEqual({ name: r.name, code: 1 });
      expect(r.output).toContain(`backup cannot start. Invalid configuration:\n  CONTINUITY_CONFIG: ${r.file} is invalid:`);
      expect(r.output).toContain(expected[r.name as keyof typeof broken]);
    }
  });
});
