import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { create as createTar } from 'tar';
import { pollUntil } from '@continuity/messaging/testing';
import { createTestDatabase, TEST_DATABASE_URL } from '@continuity/runtime/testing';
import { announceBackup, dropRole, pgDump, publishExternalBackup, seedDatabase, sha256, startVerifierWorld, testRestoreRole, VerifierWorld } from './harness.js';

const run = promisify(execFile);
const GiB = 1 << 30;

/** A sparse file of `size` bytes: as long as a real one to read, nothing on disk. */
const sparseFile = (path: string, size: number) => {
  writeFileSync(path, '');
  truncateSync(path, size);
};

/** A PostgreSQL dump announced as an external publisher would, its one copy a file under the world's root. */
const publishDump = (world: VerifierWorld, resource: string, dump: Buffer) =>
  publishExternalBackup(world, { resource, resourceKind: 'postgres', method: 'pg_dump-custom', artifact: dump, copies: [{ location: 'disk-a', kind: 'file' }] });

/** A verifier world of its own (in a describe block) with a small seeded database's dump at hand. */
const worldWithDump = (name: string, options: Parameters<typeof startVerifierWorld>[1]) => {
  const context = {} as { world: VerifierWorld; dump: Buffer };
  let source: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  beforeAll(async () => {
    context.world = await startVerifierWorld(name, options);
    source = await createTestDatabase('verifier_src');
    await seedDatabase(source.url, 10);
    context.dump = await pgDump(source.url);
  });
  afterAll(async () => {
    await context.world?.close();
    await source?.drop();
  });
  return context;
};

/**
 * A BackupCreated can come from anyone who may publish one: these tests are what an attacker
 * would send, and show the verifier does not turn against its host. SQL inside a forged dump runs
 * as a role without superuser rights (so it cannot run programs or read files on the database
 * host), `file://` copies are read only under the file roots, as regular files, never past their
 * declared size; a tar bomb stops at the declared size; every verification ends by its deadline.
 */
describe('the verifier cannot be turned against its host (real NATS, PostgreSQL, filesystem)', () => {
  let world: VerifierWorld;
  let forgedSource: Awaited<ReturnType<typeof createTestDatabase>>;
  let goodSource: Awaited<ReturnType<typeof createTestDatabase>>;
  /** Outside every file root; world-writable so that the database server's OS user can write the marker. */
  let outside: string;
  let marker: string;
  let forged: Buffer;
  let good: Buffer;

  beforeAll(async () => {
    outside = mkdtempSync(join(tmpdir(), 'continuity-verifier-outside-'));
    chmodSync(outside, 0o777);
    marker = join(outside, 'payload-ran');
    world = await startVerifierWorld('host', {
      config: `
resources:
  shop-db:
    assertions:
      - { name: restored as a role without superuser, sql: "select not rolsuper and not rolcreaterole from pg_roles where rolname = current_user" }
      - { name: the scratch database belongs to that role, sql: "select datdba = (select oid from pg_roles where rolname = current_user) from pg_database where datname = current_database()" }
`,
    });
    // The forged archive: a pg_dump (custom format) whose CHECK constraints call functions that, as
    // the rows are loaded by pg_restore, read /etc/passwd into a table and run a program on the
    // database host. The source database itself is left alone (the payload looks at its name).
    forgedSource = await createTestDatabase('verifier_forged');
    const c = new Client({ connectionString: forgedSource.url });
    await c.connect();
    await c.query(`
      CREATE TABLE public.loot (data text);
      CREATE FUNCTION public.peek(i int) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN
        IF current_database() <> '${forgedSource.name}' THEN
          INSERT INTO public.loot VALUES (pg_catalog.pg_read_file('/etc/passwd'));
        END IF;
        RETURN true;
      END $$;
      CREATE FUNCTION public.run(i int) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN
        IF current_database() <> '${forgedSource.name}' THEN
          -- The program reads what COPY writes first: one that exits at once breaks the pipe, and the COPY fails after all.
          EXECUTE pg_catalog.format('COPY (SELECT 1) TO PROGRAM %L', 'cat >/dev/null; touch ${marker}');
        END IF;
        RETURN true;
      END $$;
      CREATE TABLE public.reads (id int CHECK (public.peek(id)));
      CREATE TABLE public.runs (id int CHECK (public.run(id)));
      INSERT INTO public.reads VALUES (1);
      INSERT INTO public.runs VALUES (1);
    `);
    await c.end();
    forged = await pgDump(forgedSource.url);
    goodSource = await createTestDatabase('verifier_src');
    await seedDatabase(goodSource.url, 100);
    good = await pgDump(goodSource.url);
  });

  afterAll(async () => {
    await world?.close();
    await forgedSource?.drop();
    await goodSource?.drop();
    rmSync(outside, { recursive: true, force: true });
  });

  afterEach(() => rmSync(marker, { force: true }));

  it('the forged archive does run its payload when a superuser restores it (what the verifier must not do)', async () => {
    const target = await createTestDatabase('verifier_forged_as_superuser');
    const file = join(outside, 'forged.dump');
    try {
      writeFileSync(file, forged);
      await run('pg_restore', ['--no-owner', '--no-privileges', `--dbname=${target.url}`, file]);
      await pollUntil(() => existsSync(marker), { timeoutMs: 5_000, what: 'the program run by the payload' });
      const c = new Client({ connectionString: target.url });
      await c.connect();
      const { rows } = await c.query<{ data: string }>('SELECT data FROM public.loot');
      await c.end();
      expect(rows[0]?.data).toMatch(/^root:/);
    } finally {
      rmSync(file, { force: true });
      await target.drop();
    }
  });

  it('restores the forged archive as its restore role: nothing runs, nothing is read, the restore test fails with the permission errors', async () => {
    const { data } = await publishDump(world, 'forged-db', forged);
    const verdict = await world.verdict(data.backupId);
    expect(verdict.data.verdict).toBe('failed');
    const restore = verdict.data.restoreTest!;
    expect(restore.checks.find((c) => c.name === 'pg_restore')).toMatchObject({
      passed: false,
      detail: expect.stringMatching(/COPY failed for table "reads": ERROR: +permission denied for function pg_read_file/),
    });
    expect(restore.checks.find((c) => c.name === 'pg_restore')!.detail).toMatch(
      /COPY failed for table "runs": ERROR: +must be superuser or .*pg_execute_server_program role to COPY to or from an external program/,
    );
    // pg_restore's "Command was:" and CONTEXT lines (the archive's SQL) are not quoted.
    expect(JSON.stringify(verdict.data)).not.toMatch(/TO PROGRAM|Command was|CONTEXT/);
    expect(existsSync(marker)).toBe(false);
    expect(await world.scratchLeft()).toEqual([]);
  });

  it('passes a good dump restored as the restore role, which owns the scratch database and is no superuser', async () => {
    const { data } = await publishDump(world, 'shop-db', good);
    const verdict = await world.verdict(data.backupId);
    expect(verdict.data).toMatchObject({ verdict: 'passed', reasons: [] });
    expect(verdict.data.restoreTest!.checks.filter((c) => c.name.startsWith('assertion')).map((c) => [c.name, c.passed])).toEqual([
      ['assertion "restored as a role without superuser"', true],
      ['assertion "the scratch database belongs to that role"', true],
    ]);
    const c = new Client({ connectionString: world.db.url });
    await c.connect();
    const { rows } = await c.query('SELECT rolsuper, rolcreatedb, rolcanlogin, rolcreaterole FROM pg_roles WHERE rolname = $1', [world.restoreRole]);
    await c.end();
    expect(rows).toEqual([{ rolsuper: false, rolcreatedb: true, rolcanlogin: true, rolcreaterole: false }]);
    expect(await world.scratchLeft()).toEqual([]);
  });

  const fileCopy = (path: string) => pathToFileURL(path).href;
  /** An external backup whose one copy is at `uri`, declared with the digest of `artifact`: its verdict. */
  const onlyCopy = async (uri: string, artifact: Buffer | { sha256: string; sizeBytes: number }) => {
    const digest = Buffer.isBuffer(artifact) ? { sha256: sha256(artifact), sizeBytes: artifact.length } : artifact;
    const { data } = await announceBackup(world, { resource: 'probe', resourceKind: 'external', method: 'snapshot', digest, copies: [{ location: 'probe', uri }] });
    return (await world.verdict(data.backupId)).data;
  };

  it('does not read a file:// copy outside its file roots, and says nothing about it (no size, no hash, not even whether it exists)', async () => {
    const secret = Buffer.from('root:x:0:0:root:/root:/bin/bash\n');
    const path = join(outside, 'secret.txt');
    writeFileSync(path, secret);
    const existing = await onlyCopy(fileCopy(path), secret);
    const missing = await onlyCopy(fileCopy(join(outside, 'no-such-file')), secret);
    for (const [verdict, uri] of [
      [existing, fileCopy(path)],
      [missing, fileCopy(join(outside, 'no-such-file'))],
    ] as const) {
      expect(verdict.verdict).toBe('unverifiable');
      expect(verdict.copies[0]).toMatchObject({ readable: false, sizeMatch: false, hashMatch: false, actualSha256: null, mbPerSec: null, error: `${uri} is not under the verifier's file roots (VERIFIER_FILE_ROOTS): not read` });
    }
    const devZero = await onlyCopy('file:///dev/zero', { sha256: 'a'.repeat(64), sizeBytes: 1 << 20 });
    expect(devZero.copies[0]).toMatchObject({ readable: false, error: "file:///dev/zero is not under the verifier's file roots (VERIFIER_FILE_ROOTS): not read" });
    expect(devZero.verdict).toBe('unverifiable');
  });

  it('reads no link, FIFO or escaping folder under its roots; stops reading a longer file one byte past its declared size', async () => {
    const secret = Buffer.from('root:x:0:0:root:/root:/bin/bash\n');
    writeFileSync(join(outside, 'secret.txt'), secret);
    const inRoot = join(world.root, 'probes');
    mkdirSync(inRoot, { recursive: true });
    symlinkSync(join(outside, 'secret.txt'), join(inRoot, 'link-out'));
    symlinkSync(outside, join(inRoot, 'folder-out'));
    await run('mkfifo', [join(inRoot, 'fifo')]);
    // 64 GiB (sparse): read to its end this would take minutes; declared as 10 bytes, it is a mismatch at once.
    sparseFile(join(inRoot, 'huge'), 64 * GiB);

    const link = await onlyCopy(fileCopy(join(inRoot, 'link-out')), secret);
    expect(link.copies[0]).toMatchObject({ readable: false, actualSha256: null, error: `${fileCopy(join(inRoot, 'link-out'))} is a symbolic link: copies are read as regular files only, never through links` });
    const escaping = await onlyCopy(fileCopy(join(inRoot, 'folder-out', 'secret.txt')), secret);
    expect(escaping.copies[0]).toMatchObject({ readable: false, actualSha256: null, error: expect.stringMatching(/is not under the verifier's file roots/) });
    const fifo = await onlyCopy(fileCopy(join(inRoot, 'fifo')), secret);
    expect(fifo.copies[0]).toMatchObject({ readable: false, error: `${fileCopy(join(inRoot, 'fifo'))} is not a regular file: copies are read as regular files only` });
    for (const verdict of [link, escaping, fifo]) {
      expect(verdict.verdict).toBe('unverifiable');
      expect(JSON.stringify(verdict)).not.toContain(sha256(secret));
    }
    const huge = await onlyCopy(fileCopy(join(inRoot, 'huge')), Buffer.from('ten bytes!'));
    expect(huge.verdict).toBe('failed');
    expect(huge.copies[0]).toMatchObject({ readable: true, sizeMatch: false, hashMatch: false, actualSha256: null, error: 'holds more than the 10 bytes expected (read stopped there)' });
  });

  it('stops extracting a tar bomb at its declared size and removes the scratch folder', async () => {
    // 40 MB of very compressible text, gzip'd by node-tar (which also unpacks gzip on its own): ~1 MB declared.
    const src = mkdtempSync(join(tmpdir(), 'continuity-verifier-bomb-'));
    try {
      writeFileSync(join(src, 'bomb.txt'), Buffer.alloc(40_000_000, 'all work and no play makes jack a dull boy\n'));
      const chunks: Buffer[] = [];
      for await (const chunk of createTar({ gzip: true, cwd: src, portable: true }, ['bomb.txt'])) chunks.push(chunk as Buffer);
      const bomb = Buffer.concat(chunks);
      expect(bomb.length).toBeLessThan(4_000_000);
      const { data } = await publishExternalBackup(world, { resource: 'uploads', resourceKind: 'directory', method: 'tar', artifact: bomb, copies: [{ location: 'disk-a', kind: 'file' }], manifest: null });
      const verdict = (await world.verdict(data.backupId)).data;
      expect(verdict.verdict).toBe('failed');
      expect(verdict.reasons).toEqual([`restore test: extract failed: the archive holds more than its declared ${bomb.length} bytes: extraction stopped at entry 1`]);
      expect(await world.scratchLeft()).toEqual([]);
    } finally {
      rmSync(src, { recursive: true, force: true });
    }
  });

  it('reports a manifest that is not JSON without quoting its bytes', async () => {
    const artifact = Buffer.from('an artifact');
    const dir = join(world.root, 'manifests');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'copy.bin'), artifact);
    writeFileSync(join(dir, 'copy.manifest.json'), '{"backupId": root:x:0:0:root:/root:/bin/bash');
    const { data } = await announceBackup(world, {
      resource: 'probe',
      resourceKind: 'external',
      method: 'snapshot',
      digest: { sha256: sha256(artifact), sizeBytes: artifact.length },
      copies: [{ location: 'disk-a', uri: fileCopy(join(dir, 'copy.bin')), manifestUri: fileCopy(join(dir, 'copy.manifest.json')) }],
    });
    const verdict = (await world.verdict(data.backupId)).data;
    expect(verdict.verdict).toBe('failed');
    expect(verdict.copies[0]!.error).toBe(`manifest ${fileCopy(join(dir, 'copy.manifest.json'))}: is not JSON`);
    expect(JSON.stringify(verdict)).not.toContain('root:x');
  });

  it('redacts credentials in copy URIs from the verdict', async () => {
    const verdict = await onlyCopy('s3://AKIAEXAMPLE:wJalrXUtnFEMI@archive/x.bin?token=secret-token', Buffer.from('x'));
    expect(JSON.stringify(verdict)).not.toMatch(/wJalrXUtnFEMI|secret-token/);
    expect(verdict.copies[0]!.uri).toBe('s3://AKIAEXAMPLE:***@archive/x.bin?token=***');
  });
});

describe('the verifier refuses to restore as a superuser (real NATS, PostgreSQL)', () => {
  const given = worldWithDump('su', { env: { VERIFIER_RESTORE_ROLE: 'postgres' } });

  it('says why, restores nothing and leaves no scratch database', async () => {
    const { world, dump } = given;
    const { data } = await publishDump(world, 'shop-db', dump);
    const verdict = (await world.verdict(data.backupId)).data;
    expect(verdict.verdict).toBe('unverifiable');
    expect(verdict.reasons).toEqual([
      'restore test not possible: refused to restore as role postgres: it is a superuser. SQL inside an archive runs with the rights of the role restoring it (programs and files on the database host); set VERIFIER_RESTORE_ROLE to a role with LOGIN CREATEDB only',
    ]);
    expect(verdict.restoreTest).toMatchObject({ status: 'skipped' });
    expect(await world.scratchLeft()).toEqual([]);
  });
});

describe('the verifier refuses to restore as a role that may run programs on the database host (real NATS, PostgreSQL)', () => {
  const role = testRestoreRole();
  const given = worldWithDump('exec', { env: { VERIFIER_RESTORE_ROLE: role } });

  beforeAll(async () => {
    const c = new Client({ connectionString: TEST_DATABASE_URL });
    await c.connect();
    await c.query(`CREATE ROLE "${role}" LOGIN CREATEDB; GRANT pg_execute_server_program TO "${role}"`);
    await c.end();
  });

  afterAll(() => dropRole(role));

  it('names the role it could act as and restores nothing', async () => {
    const { world, dump } = given;
    const { data } = await publishDump(world, 'shop-db', dump);
    const verdict = (await world.verdict(data.backupId)).data;
    expect(verdict.verdict).toBe('unverifiable');
    expect(verdict.reasons).toEqual([expect.stringMatching(new RegExp(`^restore test not possible: refused to restore as role ${role}: it can act as pg_execute_server_program\\. `))]);
    expect(await world.scratchLeft()).toEqual([]);
  });
});

describe('every verification has a deadline (real NATS, PostgreSQL, filesystem)', () => {
  const given = worldWithDump('dl', {
    env: { VERIFIER_DEADLINE_MS: '1500' },
    config: `
resources:
  slow-db:
    assertions:
      - { name: slower than the deadline, sql: "select pg_sleep(30) is not null" }
`,
  });

  it('stops a restore test at the deadline, says so, and removes its scratch database', async () => {
    const { world, dump } = given;
    const started = Date.now();
    const { data } = await publishDump(world, 'slow-db', dump);
    const verdict = (await world.verdict(data.backupId)).data;
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(verdict.verdict).toBe('failed');
    expect(verdict.reasons).toEqual(['restore test: restore test finished in time failed: stopped at the verification deadline (1500ms, VERIFIER_DEADLINE_MS); its scratch was removed']);
    expect(await world.scratchLeft()).toEqual([]);
  });

  it('stops reading a copy at the deadline and says which', async () => {
    const { world } = given;
    const dir = join(world.root, 'big');
    mkdirSync(dir, { recursive: true });
    // 16 GiB (sparse, declared at that size): hashing it takes far longer than the deadline.
    sparseFile(join(dir, 'big.bin'), 16 * GiB);
    const uri = pathToFileURL(join(dir, 'big.bin')).href;
    const { data } = await announceBackup(world, { resource: 'big', resourceKind: 'external', method: 'snapshot', digest: { sha256: 'b'.repeat(64), sizeBytes: 16 * GiB }, copies: [{ location: 'disk-a', uri }] });
    const verdict = (await world.verdict(data.backupId)).data;
    expect(verdict.verdict).toBe('unverifiable');
    expect(verdict.reasons).toEqual([`copy disk-a (${uri}) is unverifiable: not read to its end within the verification deadline (1500ms, VERIFIER_DEADLINE_MS)`]);
  });
});
