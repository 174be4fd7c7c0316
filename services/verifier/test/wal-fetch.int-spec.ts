import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawn, spawnSync } from 'node:child_process';
import { zstdCompress } from '@continuity/artifacts';
import { CopyReaders } from '../src/copies/copy-reader.js';
import { FileCopyReader } from '../src/copies/file.reader.js';
import { startWalFetchServer, type FetchableFile, type WalFetchServer } from '../src/restore-test/wal-fetch.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const NAME = '000000010000000000000005';

/** Sends one request line to the fetch socket, as the restore_command would (or an intruder). */
const ask = (socket: string, request: unknown) =>
  new Promise<string>((resolve) => {
    let reply = '';
    const c = connect(socket, () => c.write(`${JSON.stringify(request)}\n`));
    c.on('data', (d) => (reply += d));
    c.on('close', () => resolve(reply.trim()));
    c.on('error', () => resolve(reply.trim()));
  });

/** Runs the restore_command as PostgreSQL would (asynchronously: the fetch server answers in this process). */
const runCommand = (command: string, cwd: string) =>
  new Promise<number | null>((resolve) => {
    const child = spawn('sh', ['-c', command], { cwd, stdio: 'ignore' });
    child.once('close', (code) => resolve(code));
  });

describe('the replay fetch socket: serves only its plan, hash-checked, to the two destinations PostgreSQL uses (real files, sockets, the restore_command script)', () => {
  let root: string;
  let scratch: string;
  let dataDir: string;
  let server: WalFetchServer;
  let plan: { socket: string; token: string; names: string[] };
  let wal: Buffer;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'continuity-walfetch-'));
    scratch = join(root, 'scratch');
    dataDir = join(scratch, 'pgdata');
    mkdirSync(join(dataDir, 'pg_wal'), { recursive: true });
    wal = randomBytes(64 * 1024);
    const chunks: Buffer[] = [];
    for await (const c of zstdCompress((async function* () { yield wal; })())) chunks.push(c);
    const stored = Buffer.concat(chunks);
    const bad = Buffer.from(stored);
    bad[bad.length >> 1] ^= 0xff;
    for (const [loc, bytes] of [['local', bad], ['nas', stored]] as const) {
      mkdirSync(join(root, 'copies', loc), { recursive: true });
      writeFileSync(join(root, 'copies', loc, `${NAME}.zst`), bytes);
    }
    const file: FetchableFile = {
      name: NAME,
      kind: 'segment',
      timeline: 1,
      startLsn: '0/5000000',
      endLsn: '0/6000000',
      partial: false,
      sha256: sha256(stored),
      sizeBytes: stored.length,
      plaintextSha256: sha256(wal),
      plaintextSizeBytes: wal.length,
      copies: ['local', 'nas'].map((loc) => ({ location: loc, site: loc, medium: 'disk', uri: pathToFileURL(join(root, 'copies', loc, `${NAME}.zst`)).href, sha256: sha256(stored) })),
      encryption: null,
    };
    server = await startWalFetchServer({
      scratchDir: scratch,
      dataDir,
      files: [file],
      readers: new CopyReaders([new FileCopyReader([join(root, 'copies')])]),
      keys: () => [],
      owner: null,
      signal: new AbortController().signal,
    });
    plan = JSON.parse(readFileSync(join(scratch, 'wal-plan.json'), 'utf8'));
  });

  afterAll(async () => {
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('writes its plan 0600 and puts nothing secret in the restore_command', () => {
    expect(spawnSync('stat', ['-c', '%a', join(scratch, 'wal-plan.json')], { encoding: 'utf8' }).stdout.trim()).toBe('600');
    expect(server.restoreCommand).not.toContain(plan.token);
    expect(server.restoreCommand).toMatch(/wal-fetch\.cjs' '.*wal-plan\.json' %f %p$/);
    expect(plan.names).toEqual([NAME]);
  });

  it('refuses a request without the token, for a file not in the plan, or to any other destination', async () => {
    expect(await ask(plan.socket, { token: 'guess', name: NAME, path: 'pg_wal/RECOVERYXLOG' })).toBe('refused');
    expect(await ask(plan.socket, { token: plan.token, name: '000000010000000000000009', path: 'pg_wal/RECOVERYXLOG' })).toBe('refused');
    expect(await ask(plan.socket, { token: plan.token, name: NAME, path: '../../escaped' })).toBe('refused');
    expect(await ask(plan.socket, { token: plan.token, name: NAME, path: '/tmp/escaped' })).toBe('refused');
    expect(existsSync(join(scratch, 'escaped'))).toBe(false);
    expect(readdirSync(join(dataDir, 'pg_wal'))).toEqual([]);
    expect(server.fetched()).toBe(0);
  });

  it('the restore_command script fetches a planned file: the corrupted local copy is passed over, the good one written to %p', async () => {
    const command = server.restoreCommand.replace('%f', NAME).replace('%p', 'pg_wal/RECOVERYXLOG');
    expect(await runCommand(command, dataDir)).toBe(0);
    expect(sha256(readFileSync(join(dataDir, 'pg_wal', 'RECOVERYXLOG')))).toBe(sha256(wal));
    expect(server.fetched()).toBe(1);
    expect(server.notes()).toEqual([expect.stringMatching(new RegExp(`^${NAME} from nas \\(local: stored bytes differ from the archived ones`))]);
    expect(server.failures()).toEqual([]);
    // A name outside the plan ends the archive for PostgreSQL (exit 1), without asking.
    expect(await runCommand(server.restoreCommand.replace('%f', '00000002.history').replace('%p', 'pg_wal/RECOVERYHISTORY'), dataDir)).toBe(1);
  }, 60_000);
});
