import { jetstream } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { ContinuityPublisher, eventSubject } from '@continuity/contracts';
import { pollUntil, readDeadLetters } from '@continuity/messaging/testing';
import { withConnection } from '@continuity/runtime';
import { createTestDatabase } from '@continuity/runtime/testing';
import { VerificationService } from '../src/verification/verification.service.js';
import { pgDump, publishExternalBackup, seedDatabase, startVerifierWorld, VerifierWorld } from './harness.js';

/**
 * Backups other platform services make and announce themselves: the verifier reads what they
 * stored, where they stored it, and judges it like its own.
 */
describe('verifying externally published backups (real NATS, PostgreSQL, filesystem)', () => {
  let world: VerifierWorld;
  let source: Awaited<ReturnType<typeof createTestDatabase>>;
  let dump: Buffer;

  beforeAll(async () => {
    world = await startVerifierWorld('ext', {
      config: `
resources:
  shop-db:
    assertions:
      - select count(*) > 0 from orders
      - { name: every order has a customer, sql: "select count(*) = 0 from orders where customer_id is null" }
      - { name: at least a million orders, sql: "select count(*) >= 1000000 from orders" }
  slow-db:
    assertions:
      - { name: slow, sql: "select pg_sleep(2.5) is not null" }
`,
      // Short, so a verification longer than it is only not redelivered because it is kept alive.
      // A restore test's maintenance_work_mem: neither the server's (64MB) nor the default (512MB).
      env: { JETSTREAM_ACK_WAIT_MS: '1500', VERIFIER_RESTORE_MAINTENANCE_WORK_MEM: '96MB' },
    });
    source = await createTestDatabase('verifier_src');
    await seedDatabase(source.url);
    dump = await pgDump(source.url);
  });

  afterAll(async () => {
    await world?.close();
    await source?.drop();
  });

  const tables = (orders: number) => [
    { schema: 'public', name: 'customers', rows: 50 },
    { schema: 'public', name: 'orders', rows: orders },
    { schema: 'billing', name: 'invoice lines', rows: 20 },
  ];

  it('verifies a file an external service made itself: passed, every copy timed, no restore test for its kind', async () => {
    const artifact = Buffer.alloc(3 << 20, 'snapshot bytes ');
    const { data, event } = await publishExternalBackup(world, {
      resource: 'billing-db',
      resourceKind: 'external',
      method: 'snapshot',
      artifact,
      copies: [
        { location: 'disk-a', kind: 'file' },
        { location: 'disk-b', kind: 'file' },
        { location: 'vault', kind: 'object' },
      ],
    });
    const verdict = await world.verdict(data.backupId);
    expect(verdict.source).toBe('verifier');
    expect(verdict.resource).toBe('billing-db');
    expect(verdict.causationId).toBe(event.id);
    expect(verdict.correlationId).toBe(event.correlationId);
    expect(verdict.data).toMatchObject({ backupId: data.backupId, verdict: 'passed', trigger: 'new', reasons: [] });
    expect(verdict.data.copies.map((c) => c.location)).toEqual(['disk-a', 'disk-b', 'vault']);
    for (const copy of verdict.data.copies) {
      expect(copy).toMatchObject({ readable: true, sizeMatch: true, hashMatch: true, actualSha256: data.sha256, error: null });
      expect(copy.durationMs).toBeGreaterThan(0);
      expect(copy.mbPerSec).toBeGreaterThan(0);
    }
    expect(verdict.data.restoreTest).toMatchObject({ status: 'skipped', checks: [{ name: 'restore test skipped', passed: true }] });
  });

  it('says unverifiable, with the reason, when a copy is in a location type it cannot read', async () => {
    const { data } = await publishExternalBackup(world, {
      resource: 'billing-db',
      resourceKind: 'external',
      method: 'snapshot',
      artifact: Buffer.from('tiny artifact'),
      copies: [
        { location: 'disk-a', kind: 'file' },
        { location: 'glacier', kind: { uri: 's3://archive-bucket/billing-db/x.bin' } },
      ],
    });
    const verdict = await world.verdict(data.backupId);
    expect(verdict.data.verdict).toBe('unverifiable');
    expect(verdict.data.reasons).toEqual([expect.stringMatching(/^copy glacier \(s3:\/\/archive-bucket\/billing-db\/x\.bin\) is unverifiable: location type s3:\/\/ is not one this verifier can read \(it reads file:\/\/, nats-object:\/\/\)/)]);
    expect(verdict.data.copies[0]).toMatchObject({ location: 'disk-a', readable: true, hashMatch: true });
    expect(verdict.data.copies[1]).toMatchObject({ location: 'glacier', readable: false, error: expect.stringContaining('s3://') });
  });

  it('restores a PostgreSQL dump into a scratch database and fails the backup naming the SQL assertion that does not hold', async () => {
    const { data } = await publishExternalBackup(world, {
      resource: 'shop-db',
      resourceKind: 'postgres',
      method: 'pg_dump-custom',
      artifact: dump,
      copies: [
        { location: 'disk-a', kind: 'file' },
        { location: 'vault', kind: 'object' },
      ],
      manifest: { tables: tables(500) },
    });
    const verdict = await world.verdict(data.backupId);
    expect(verdict.data.verdict).toBe('failed');
    expect(verdict.data.reasons).toEqual(['restore test: assertion "at least a million orders" failed: returned false, not true']);
    const test = verdict.data.restoreTest!;
    expect(test.status).toBe('failed');
    expect(test.durationMs).toBeGreaterThan(0);
    expect(test.checks.map((c) => [c.name, c.passed])).toEqual([
      ['pg_restore', true],
      ['tables present', true],
      ['row counts as recorded', true],
      ['large objects present', true],
      ['assertion "select count(*) > 0 from orders"', true],
      ['assertion "every order has a customer"', true],
      ['assertion "at least a million orders"', false],
    ]);
    // A local, unencrypted copy: pg_restore --jobs reads the file itself.
    expect(test.checks[0]!.detail).toMatch(/ from disk-a \(2 jobs\)$/);
    expect(await world.scratchLeft()).toEqual([]);
  });

  it('restores a dump held only in an object store with --jobs from a staged file, and leaves no scratch folder', async () => {
    const { data } = await publishExternalBackup(world, {
      resource: 'ledger-db',
      resourceKind: 'postgres',
      method: 'pg_dump-custom',
      artifact: dump,
      copies: [{ location: 'vault', kind: 'object' }],
      manifest: { tables: tables(500) },
    });
    const verdict = await world.verdict(data.backupId);
    expect(verdict.data.verdict).toBe('passed');
    expect(verdict.data.restoreTest!.checks).toEqual([
      { name: 'pg_restore', passed: true, detail: expect.stringMatching(/^\d+ tables restored in \d+ ms from vault \(2 jobs, staged\)$/) },
      { name: 'tables present', passed: true, detail: '3 tables recorded in the manifest' },
      { name: 'row counts as recorded', passed: true, detail: '3 tables' },
      { name: 'large objects present', passed: true, detail: expect.any(String) },
    ]);
    expect(await world.scratchLeft()).toEqual([]);
  });

  it('restores into its scratch database without waiting for the disk at each commit and with the configured maintenance_work_mem, in every pg_restore session', async () => {
    // A table whose rows hold only in a session with synchronous_commit=off and maintenance_work_mem
    // as configured (96MB): its COPY (run by a --jobs worker) fails in any other.
    const asynchronous = await createTestDatabase('verifier_async');
    try {
      await withConnection(asynchronous.url, (c) =>
        c.query(`
          SET synchronous_commit = off;
          SET maintenance_work_mem = '96MB';
          CREATE TABLE scratch_only (
            id int PRIMARY KEY
              CHECK (current_setting('synchronous_commit') = 'off')
              CONSTRAINT tuned CHECK (current_setting('maintenance_work_mem') = '96MB')
          );
          INSERT INTO scratch_only SELECT generate_series(1, 10);
        `),
      );
      // The database dumped as it is now, published as one file copy, and the verifier's verdict on it.
      const verdictOnDump = async () => {
        const { data } = await publishExternalBackup(world, {
          resource: 'ledger-db',
          resourceKind: 'postgres',
          method: 'pg_dump-custom',
          artifact: await pgDump(asynchronous.url),
          copies: [{ location: 'disk-a', kind: 'file' }],
          manifest: { tables: [{ schema: 'public', name: 'scratch_only', rows: 10 }] },
        });
        return world.verdict(data.backupId);
      };
      const verdict = await verdictOnDump();
      expect(verdict.data.reasons).toEqual([]);
      expect(verdict.data.restoreTest!.checks[0]!.detail).toMatch(/ from disk-a \(2 jobs\)$/);

      // The same table wanting another maintenance_work_mem than the configured one: its COPY fails.
      await withConnection(asynchronous.url, (c) =>
        c.query(`
          SET maintenance_work_mem = '97MB';
          ALTER TABLE scratch_only DROP CONSTRAINT tuned, ADD CONSTRAINT tuned CHECK (current_setting('maintenance_work_mem') = '97MB');
        `),
      );
      const refused = await verdictOnDump();
      expect(refused.data.verdict).toBe('failed');
      expect(refused.data.reasons).toContainEqual(expect.stringMatching(/^restore test: pg_restore failed: exited with 1: .*violates check constraint "tuned"/));
    } finally {
      await asynchronous.drop();
    }
  });

  it('fails a dump whose restored row counts differ from those recorded, naming the table', async () => {
    const { data } = await publishExternalBackup(world, {
      resource: 'ledger-db',
      resourceKind: 'postgres',
      method: 'pg_dump-custom',
      artifact: dump,
      copies: [{ location: 'disk-a', kind: 'file' }],
      manifest: { tables: [...tables(501), { schema: 'public', name: 'refunds', rows: 3 }] },
    });
    const verdict = await world.verdict(data.backupId);
    expect(verdict.data.verdict).toBe('failed');
    expect(verdict.data.reasons).toEqual([
      'restore test: tables present failed: missing: public.refunds',
      'restore test: row counts as recorded failed: public.orders: 500 rows, recorded 501',
    ]);
  });

  it('fails a truncated dump in its restore test, naming pg_restore and its error, and leaves no scratch database', async () => {
    const truncated = dump.subarray(0, Math.floor(dump.length * 0.8));
    const { data } = await publishExternalBackup(world, {
      resource: 'ledger-db',
      resourceKind: 'postgres',
      method: 'pg_dump-custom',
      artifact: truncated,
      copies: [
        { location: 'disk-a', kind: 'file' },
        { location: 'disk-b', kind: 'file' },
      ],
    });
    const verdict = await world.verdict(data.backupId);
    expect(verdict.data.verdict).toBe('failed');
    expect(verdict.data.copies.every((c) => c.hashMatch)).toBe(true); // the copies are what was announced: the dump itself is broken
    expect(verdict.data.reasons).toEqual([expect.stringMatching(/^restore test: pg_restore failed: exited with 1: .*could not read from input file: end of file/)]);
    expect(await world.scratchLeft()).toEqual([]);
  });

  /** The verdict on a damaged copy of the dump, published as one file copy of `ledger-db`. */
  const verdictOfDamagedDump = async (artifact: Buffer) => {
    const { data } = await publishExternalBackup(world, { resource: 'ledger-db', resourceKind: 'postgres', method: 'pg_dump-custom', artifact, copies: [{ location: 'disk-a', kind: 'file' }] });
    return world.verdict(data.backupId);
  };

  it('fails a dump whose table of contents is unreadable, naming the check, and drops the scratch database made meanwhile', async () => {
    const broken = Buffer.from(dump);
    broken.write('NOTADUMP', 0, 'latin1'); // the header: pg_restore cannot tell the format
    const verdict = await verdictOfDamagedDump(broken);
    expect(verdict.data.verdict).toBe('failed');
    expect(verdict.data.reasons).toEqual([expect.stringMatching(/^restore test: archive readable \(pg_restore --list\) failed: .*input file does not appear to be a valid archive/)]);
    expect(await world.scratchLeft()).toEqual([]);
  });

  it('fails a dump whose compressed table data is corrupted, naming pg_restore', async () => {
    const corrupted = Buffer.from(dump);
    // Bytes inside the compressed data of the largest table (orders: the last quarter of the archive, after its table of contents).
    const at = Math.floor(corrupted.length * 0.8);
    for (let i = at; i < at + 64; i++) corrupted[i] = corrupted[i]! ^ 0x5a;
    const verdict = await verdictOfDamagedDump(corrupted);
    expect(verdict.data.verdict).toBe('failed');
    expect(verdict.data.reasons).toEqual([expect.stringMatching(/^restore test: pg_restore failed: exited with 1: /)]);
    expect(await world.scratchLeft()).toEqual([]);
  });

  it('publishes one verdict when the same BackupCreated is delivered again, also while the first is being verified', async () => {
    const { data, event } = await publishExternalBackup(world, {
      resource: 'billing-db',
      resourceKind: 'external',
      method: 'snapshot',
      artifact: Buffer.alloc(1 << 20, 7),
      copies: [{ location: 'disk-a', kind: 'file' }],
    });
    // The stream holds the same event twice more (as after a publisher retry beyond the dedupe window).
    const js = jetstream(world.nc);
    const subject = eventSubject('BackupCreated', event.resource, world.topology);
    for (const copy of ['a', 'b']) {
      const h = headers();
      h.set('Nats-Msg-Id', `${event.id}-${copy}`);
      await js.publish(subject, JSON.stringify(event), { headers: h });
    }
    await world.verdict(data.backupId);
    await pollUntil(async () => {
      const info = await (await js.consumers.get(world.topology.eventStream, 'verifier_BackupCreated')).info();
      return info.num_ack_pending === 0 && info.num_pending === 0;
    }, { what: 'every BackupCreated to be acked' });
    expect(await world.verdicts(data.backupId)).toHaveLength(1);
    const { body } = await world.get(`/verifications?backupId=${data.backupId}`);
    expect(body.verifications).toHaveLength(1);
  });

  it('publishes one verdict when the same event is handled twice at the same time in one process', async () => {
    const { data, event } = await publishExternalBackup(world, {
      resource: 'billing-db',
      resourceKind: 'external',
      method: 'snapshot',
      artifact: Buffer.alloc(4 << 20, 3),
      copies: [{ location: 'disk-a', kind: 'file' }, { location: 'disk-b', kind: 'file' }],
    });
    const service = world.app.get(VerificationService);
    const [a, b, c] = await Promise.all([service.verifyNew(event), service.verifyNew(event), service.verifyNew(event)]);
    expect(new Set([a!.verificationId, b!.verificationId, c!.verificationId]).size).toBe(1);
    await world.verdict(data.backupId);
    await pollUntil(async () => {
      const info = await (await jetstream(world.nc).consumers.get(world.topology.eventStream, 'verifier_BackupCreated')).info();
      return info.num_ack_pending === 0 && info.num_pending === 0;
    }, { what: 'the published BackupCreated to be acked' });
    expect(await world.verdicts(data.backupId)).toHaveLength(1);
  });

  it('keeps the message of a verification longer than the ack wait alive: handled once, one verdict', async () => {
    const service = world.app.get(VerificationService);
    const calls = jest.spyOn(service, 'verifyNew');
    try {
      const { data } = await publishExternalBackup(world, {
        resource: 'slow-db',
        resourceKind: 'postgres',
        method: 'pg_dump-custom',
        artifact: dump,
        copies: [{ location: 'disk-a', kind: 'file' }],
      });
      const verdict = await world.verdict(data.backupId);
      expect(verdict.data.verdict).toBe('passed');
      expect(verdict.data.restoreTest!.checks.find((c) => c.name === 'assertion "slow"')).toMatchObject({ passed: true });
      expect(calls.mock.calls.filter(([event]) => event.data.backupId === data.backupId)).toHaveLength(1);
    } finally {
      calls.mockRestore();
    }
  });

  it('fails every copy whose manifest disagrees with the event, naming the disagreement', async () => {
    const { data } = await publishExternalBackup(world, {
      resource: 'billing-db',
      resourceKind: 'external',
      method: 'snapshot',
      artifact: Buffer.from('the real bytes'),
      copies: [{ location: 'disk-a', kind: 'file' }, { location: 'vault', kind: 'object' }],
      manifest: { stored: { sha256: 'f'.repeat(64), sizeBytes: 14 } },
    });
    const verdict = await world.verdict(data.backupId);
    expect(verdict.data.verdict).toBe('failed');
    expect(verdict.data.reasons).toEqual([
      expect.stringMatching(new RegExp(`^copy disk-a \\(file://.*\\): manifest file://.*\\.manifest\\.json: records 14 bytes with SHA-256 f{64}; the event says 14 bytes with ${data.sha256}$`)),
      expect.stringMatching(/^copy vault \(nats-object:\/\/.*\): manifest nats-object:\/\/.*: records 14 bytes/),
    ]);
    expect(verdict.data.copies.every((c) => c.hashMatch)).toBe(true);
  });

  it('dead-letters a BackupCreated that is not valid, with the reason', async () => {
    const js = jetstream(world.nc);
    await js.publish(eventSubject('BackupCreated', 'billing-db', world.topology), JSON.stringify({ hello: 'world' }));
    // `find`, not `filter`: an empty list is truthy, and the poll must wait for the letter itself.
    const letter = await pollUntil(async () => (await readDeadLetters(world.nc, world.topology)).find((l) => l.consumer === 'verifier_BackupCreated'), {
      what: 'the invalid event on the dead-letter stream',
    });
    expect(letter.reason).toMatch(/^invalid event/);
  });

  it('re-verifies on demand; says which parameter or field is wrong; 404 and 409 name the backup', async () => {
    const { data } = await publishExternalBackup(world, {
      resource: 'billing-db',
      resourceKind: 'external',
      method: 'snapshot',
      artifact: Buffer.from('on demand'),
      copies: [{ location: 'disk-a', kind: 'file' }],
    });
    await world.verdict(data.backupId);
    const requested = await world.post('/verifications', { backupId: data.backupId });
    expect(requested.status).toBe(202);
    expect(requested.body).toMatchObject({ backupId: data.backupId, trigger: 'manual', status: 'running' });
    const manual = await world.verdict(data.backupId, 'manual');
    expect(manual.data.verdict).toBe('passed');
    const one = await pollUntil(async () => {
      const r = await world.get(requested.body.links.self);
      return r.body.status === 'done' && r.body.event.publishedAt ? r : null;
    });
    expect(one.body).toMatchObject({ verdict: 'passed', trigger: 'manual', event: { id: manual.id } });

    expect((await world.get(`/verifications?backupId=${data.backupId}&trigger=manual`)).body.verifications).toHaveLength(1);
    expect((await world.get(`/verifications?resource=billing-db&verdict=unverifiable`)).body.verifications).toHaveLength(1);

    const bad = await world.get('/verifications?backupId=nope&verdict=ok&limit=0&colour=red');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('backupId: must be a UUID (got "nope")');
    expect(bad.body.message).toContain('verdict: must be passed, failed or unverifiable (got "ok")');
    expect(bad.body.message).toContain('limit: must be a whole number from 1 to 1000 (got "0")');
    expect(bad.body.message).toContain('colour: unknown parameter');
    expect((await world.post('/verifications', {})).body.message).toBe('backupId: is required: the backup to verify');
    expect((await world.post('/verifications', { backupId: 'x', extra: 1 })).status).toBe(400);
    const unknown = await world.post('/verifications', { backupId: '0190f4a0-0000-7000-8000-000000000000' });
    expect(unknown).toMatchObject({ status: 404, body: { code: 'VERIFY.BACKUP_NOT_FOUND' } });
    expect((await world.get('/verifications/0190f4a0-0000-7000-8000-000000000000')).status).toBe(404);

    // An expired backup is no longer retained: not re-verifiable, not in the coverage. (Expiries
    // come from the backup service: an external publisher may only publish BackupCreated.)
    await new ContinuityPublisher(jetstream(world.nc), { source: 'backup', topology: world.topology }).publish('BackupExpired', {
      resource: 'billing-db',
      data: { backupId: data.backupId, recoveryPoint: data.recoveryPoint, policy: 'billing', reason: 'keep-last 1', copies: [] },
    });
    await pollUntil(async () => (await world.post('/verifications', { backupId: data.backupId })).status === 409, { what: 'the expiry to be recorded' });
    const coverage = await world.get('/verifications/coverage?resource=billing-db');
    expect(coverage.body.backups.map((b: { backupId: string }) => b.backupId)).not.toContain(data.backupId);
    expect((await world.get('/verifications/coverage?resource=a.b')).body.message).toBe('resource: must be a resource name (letters, digits, "_" or "-") (got "a.b")');
  });
});
