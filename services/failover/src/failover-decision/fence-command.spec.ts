import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil } from '@continuity/messaging/testing';
import { runFenceCommand } from './fence-command.js';

/** Real processes: small shell scripts written for each test, run the way the service runs them. */
describe('runFenceCommand', () => {
  let dir: string;
  const script = (name: string, body: string) => {
    const file = join(dir, name);
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
    return file;
  };
  const env = { PATH: '/usr/bin:/bin', CONTINUITY_MEMBER: 'pg-a', CONTINUITY_EPOCH: '3' };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'continuity-fence-command-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs argv with only the given environment and reports success with its output', async () => {
    const file = script('ok.sh', 'echo "fencing $CONTINUITY_MEMBER at epoch $CONTINUITY_EPOCH with $1"; echo "NATS_URL=${NATS_URL:-unset}" >&2');
    const run = await runFenceCommand([file, 'db-a'], { timeoutMs: 5_000, env });
    expect(run).toMatchObject({ outcome: 'succeeded', exitCode: 0, signal: null });
    expect(run.output).toBe('fencing pg-a at epoch 3 with db-a\nNATS_URL=unset');
    expect(run.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('reports a failing exit status', async () => {
    const run = await runFenceCommand([script('fail.sh', 'echo "power controller unreachable" >&2; exit 3')], { timeoutMs: 5_000, env });
    expect(run).toMatchObject({ outcome: 'failed', exitCode: 3, signal: null, output: 'power controller unreachable' });
  });

  it('kills a command that hangs at its timeout, with everything it started', async () => {
    const pidFile = join(dir, 'sleeper.pid');
    const file = script('hang.sh', `sleep 600 & echo $! > ${pidFile}; echo started; wait`);
    const started = Date.now();
    const run = await runFenceCommand([file], { timeoutMs: 400, env });
    expect(run).toMatchObject({ outcome: 'timed-out', exitCode: null, signal: 'SIGKILL', output: 'started' });
    expect(Date.now() - started).toBeLessThan(3_000);
    // Its child is gone too (at most a zombie waiting for init to reap it).
    const sleeper = Number(readFileSync(pidFile, 'utf8'));
    const state = () => (existsSync(`/proc/${sleeper}/stat`) ? readFileSync(`/proc/${sleeper}/stat`, 'utf8').split(') ')[1]![0] : 'gone');
    await pollUntil(() => ['Z', 'gone'].includes(state()), { what: 'the sleep started by the script to be killed', timeoutMs: 2_000 });
  });

  it('never goes through a shell: an argument with "; touch marker" is one argument', async () => {
    const marker = join(dir, 'marker');
    const file = script('args.sh', 'printf "%s|" "$@"');
    const run = await runFenceCommand([file, `db-a; touch ${marker}`, `$(touch ${marker})`], { timeoutMs: 5_000, env });
    expect(run.output).toBe(`db-a; touch ${marker}|$(touch ${marker})|`);
    // A program path with shell syntax in it is a file name that does not exist, not a command line.
    const notRun = await runFenceCommand([`/bin/true; touch ${marker}`], { timeoutMs: 5_000, env });
    expect(notRun).toMatchObject({ outcome: 'not-started', exitCode: null });
    expect(notRun.output).toMatch(/could not run .*ENOENT/);
    expect(existsSync(marker)).toBe(false);
  });

  it('keeps only the first lines of its output, with secrets redacted', async () => {
    const file = script('chatty.sh', 'echo "connecting to postgres://fence:hunter2@10.0.0.5/postgres"; i=0; while [ $i -lt 100 ]; do echo "line $i"; i=$((i+1)); done');
    const run = await runFenceCommand([file], { timeoutMs: 5_000, env, maxOutputLines: 3 });
    expect(run.output).toBe('connecting to postgres://fence:***@10.0.0.5/postgres\nline 0\nline 1\n…(output truncated)');
    expect(run.output).not.toContain('hunter2');
  });
});
