import { spawn } from 'node:child_process';
import { redactSecrets } from '@continuity/runtime';

/** How one run of a fence command ended. */
export interface FenceCommandRun {
  outcome: 'succeeded' | 'failed' | 'timed-out' | 'not-started';
  exitCode: number | null;
  signal: string | null;
  startedAt: number;
  durationMs: number;
  /** The first lines of stdout and stderr as they came, bounded, secrets redacted. */
  output: string;
}

export interface FenceCommandOptions {
  timeoutMs: number;
  /** The whole environment of the command (nothing of the service's own is passed on unless listed). */
  env: Record<string, string>;
  /** Output kept, in bytes (default 4 KiB) and lines (default 20). */
  maxOutputBytes?: number;
  maxOutputLines?: number;
}

/** After the process exits (or is killed), how long its pipes may stay open (a stray grandchild) before we stop reading. */
const PIPE_GRACE_MS = 1_000;

/**
 * Runs `argv` without a shell (argv[0] is executed directly, every argument reaches it verbatim,
 * so `; touch x` is an argument, never a command), in its own process group, so that at the
 * timeout the whole group — a script and whatever it started — is killed with SIGKILL.
 * Never rejects: a program that cannot be started is an outcome too.
 */
export const runFenceCommand = (argv: readonly string[], options: FenceCommandOptions): Promise<FenceCommandRun> =>
  new Promise((resolve) => {
    const startedAt = Date.now();
    const maxBytes = options.maxOutputBytes ?? 4096;
    const chunks: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    let timedOut = false;
    let exit: { code: number | null; signal: string | null } | null = null;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let grace: NodeJS.Timeout | undefined;
    let hardStop: NodeJS.Timeout | undefined;

    const finish = (run: Omit<FenceCommandRun, 'startedAt' | 'durationMs' | 'output'>, extra = '') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      clearTimeout(hardStop);
      child.stdout?.destroy();
      child.stderr?.destroy();
      const text = Buffer.concat(chunks).toString('utf8');
      resolve({ ...run, startedAt, durationMs: Date.now() - startedAt, output: boundOutput(text + extra, truncated, options.maxOutputLines ?? 20) });
    };
    const ended = () => {
      if (!exit) return;
      const { code, signal } = exit;
      finish({ outcome: timedOut ? 'timed-out' : code === 0 ? 'succeeded' : 'failed', exitCode: code, signal });
    };

    const child = spawn(argv[0]!, argv.slice(1), { shell: false, detached: true, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      if (kept >= maxBytes) return void (truncated = true);
      const part = chunk.subarray(0, maxBytes - kept);
      if (part.length < chunk.length) truncated = true;
      chunks.push(part);
      kept += part.length;
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('error', (error) => finish({ outcome: 'not-started', exitCode: null, signal: null }, `could not run ${argv[0]}: ${error.message}`));
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      // Output written just before exiting arrives after 'exit': wait for the pipes to close, a little.
      grace = setTimeout(ended, PIPE_GRACE_MS);
    });
    child.once('close', ended);
    timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
      // Should the kill not be reported (it always is on Linux), the timeout still holds.
      hardStop = setTimeout(() => finish({ outcome: 'timed-out', exitCode: null, signal: 'SIGKILL' }), 2 * PIPE_GRACE_MS);
    }, options.timeoutMs);
  });

const killGroup = (pid: number | undefined) => {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Gone already, or the group could not be signalled: the process itself at least.
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
};

const boundOutput = (text: string, truncated: boolean, maxLines: number): string => {
  const lines = text.replace(/\r/g, '').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const shown = lines.slice(0, maxLines);
  const more = truncated || lines.length > maxLines;
  return redactSecrets(shown.join('\n') + (more ? '\n…(output truncated)' : ''));
};
