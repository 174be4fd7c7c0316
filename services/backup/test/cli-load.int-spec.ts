import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RESTORE_PLAN_FILE, RESTORE_PLAN_FORMAT, type RestorePlan } from '@continuity/artifacts';

/**
 * What the built CLI loads (`npm run build` first): a restore's start is part of its RTO, and
 * NestJS, rxjs and the OpenTelemetry SDK cost most of a second to load while the CLI uses none of
 * them (it has no tracing; `@opentelemetry/api` alone is a no-op). An import of a package's index
 * instead of its light entry point (`@continuity/runtime/standalone`, `@continuity/messaging/nats`)
 * would silently bring them back; this fails instead. Each command runs in its own process, through
 * Node's own resolution (the packages' `exports`), with nothing reachable (it fails fast, after
 * loading what it loads), and lists `require.cache` when it is done.
 */
const CLI_DIR = join(__dirname, '..', 'dist', 'cli');
const HEAVY = /\/node_modules\/(@nestjs\/|rxjs\/|@opentelemetry\/sdk-)/;
const DONE = 'loaded modules: ';

const CHILD = `
const { main } = require(${JSON.stringify(join(CLI_DIR, 'main.js'))});
main(['node', 'continuity', ...JSON.parse(process.env.CLI_ARGS)]).then((code) => {
  process.stderr.write('\\n${DONE}' + JSON.stringify({ code, files: Object.keys(require.cache) }) + '\\n');
});
`;

const NOWHERE = 'nats://127.0.0.1:1';

/** Runs the CLI's `main` with `args` in a child process (in `cwd`): the files it loaded. */
const loadedBy = (args: string[], cwd = process.cwd()) =>
  new Promise<{ code: number; files: string[]; stderr: string }>((resolve, reject) => {
    const env = { ...process.env, NATS_URL: NOWHERE, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', CONTINUITY_CONFIG: '', CLI_ARGS: JSON.stringify(args) };
    const child = spawn(process.execPath, ['-e', CHILD], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.once('error', reject);
    child.once('exit', () => {
      const line = stderr.split('\n').find((l) => l.startsWith(DONE));
      if (!line) return reject(new Error(`the child did not finish: ${stderr}`));
      resolve({ ...(JSON.parse(line.slice(DONE.length)) as { code: number; files: string[] }), stderr });
    });
  });

const heavy = (files: string[]) => files.filter((f) => HEAVY.test(f));

describe('the continuity CLI loads only what a command needs (built CLI, child processes)', () => {
  it('--help loads commander and no command', async () => {
    const { code, files } = await loadedBy(['--help']);
    expect(code).toBe(0);
    expect(heavy(files)).toEqual([]);
    expect(files.filter((f) => f.includes('/node_modules/') && !f.includes('/node_modules/commander/'))).toEqual([]);
  });

  it('a point-in-time restore, catalogue and NATS unreachable (the disaster path), loads no NestJS, rxjs or OpenTelemetry SDK', async () => {
    const { code, files, stderr } = await loadedBy(['restore', 'orders-db', '--latest', '--to-data-dir', '/nonexistent/continuity-cli-load', '--no-progress']);
    expect(code).not.toBe(0);
    expect(stderr).toContain('not reachable');
    expect(files.some((f) => f.endsWith('/cli/commands/restore-pitr.command.js'))).toBe(true);
    expect(heavy(files)).toEqual([]);
  });

  it('a restore of a backup id loads no NestJS, rxjs or OpenTelemetry SDK', async () => {
    const { code, files } = await loadedBy(['restore', '0190a0a0-0000-7000-8000-000000000000', '--to', '/nonexistent/continuity-cli-load', '--no-progress']);
    expect(code).not.toBe(0);
    expect(files.some((f) => f.endsWith('/backup.wiring.js'))).toBe(true);
    expect(heavy(files)).toEqual([]);
  });

  it('wal-fetch of a WAL file in an object store (once per WAL file in a recovery) loads no NestJS, rxjs or OpenTelemetry SDK', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'continuity-cli-load-'));
    try {
      mkdirSync(join(dir, 'pg_wal'));
      const name = '000000010000000000000001';
      const sha = '0'.repeat(64);
      const plan: RestorePlan = {
        format: RESTORE_PLAN_FORMAT,
        resource: 'orders-db',
        backupId: 'b',
        target: { kind: 'latest', value: null },
        recordsFrom: 'test',
        encryption: null,
        locations: [{ name: 'far', kind: 'object-store', bucket: 'nowhere', natsUrl: NOWHERE }],
        nats: null,
        files: [{ name, timeline: 1, startLsn: '0/1000000', endLsn: '0/2000000', partial: false, plaintextSha256: sha, plaintextSizeBytes: 1, copies: [{ location: 'far', sha256: sha, sizeBytes: 1 }] }],
      };
      writeFileSync(join(dir, RESTORE_PLAN_FILE), JSON.stringify(plan));
      const { code, files, stderr } = await loadedBy(['wal-fetch', name, 'pg_wal/RECOVERYXLOG'], dir);
      expect(code).toBe(1);
      expect(stderr).toContain('no copy can be used');
      expect(files.some((f) => f.endsWith('/object-store.location.js'))).toBe(true);
      expect(heavy(files)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
