// The launcher's watchdog: stops what `npm start` started when the launcher itself cannot (it was
// SIGKILLed, alone or with its whole process group, or died some other way before its own stop ran).
//
// Delivery guarantee: the launcher starts this process first, in a session of its own (so no signal
// meant for the launcher's terminal or process group reaches it), with a pipe that only the launcher
// holds open; it tells the watchdog, one JSON line each, what it owns — a PostgreSQL folder before
// any server in it starts, a process as soon as it is spawned. Whatever way the launcher ends, the
// kernel closes the pipe; at end of file the watchdog stops what still runs of it (after the
// launcher's own graceful stop, nothing), in this order:
//   1. the services, together: SIGTERM to each one's process group, SIGKILL after SERVICE_GRACE_MS;
//   2. every other server, last registered first: a PostgreSQL folder's running postmasters with
//      SIGINT (what `pg_ctl stop -m fast` sends), SIGQUIT after POSTGRES_GRACE_MS, then SIGKILL of
//      the postmaster's tree; a process (nats-server) with SIGTERM, then SIGKILL.
// A pid is signalled only while it is the process that was registered (its start time in
// /proc/<pid>/stat) or, for a postmaster, while it still runs in its data directory: a reused pid
// is left alone. Then it exits. See docs/decisions/0046-launcher-watchdog.md.
//
// The launcher side: `startWatchdog` below (scripts/start.mjs).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVICE_GRACE_MS = 15_000;
const POSTGRES_GRACE_MS = 30_000;
const PROCESS_GRACE_MS = 10_000;
const PREVIOUS_WATCHDOG_WAIT_MS = 120_000;
const STATE_FILE = 'launcher.json';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const hasProc = existsSync('/proc/self/stat');

/** The fields of /proc/<pid>/stat after the command (which may hold spaces and parentheses); null when gone. */
const statFields = (pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
};

/**
 * Who a pid is: its start time (clock ticks since boot), so a later process given the same pid is
 * not taken for it; null when no such process runs, or it is a zombie (dead, not yet reaped).
 * Without /proc, whether the pid exists at all.
 */
export const processStart = (pid) => {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  if (!hasProc) {
    try {
      process.kill(pid, 0);
      return 'unknown';
    } catch (error) {
      return error.code === 'EPERM' ? 'unknown' : null;
    }
  }
  const fields = statFields(pid);
  if (!fields || fields[0] === 'Z' || fields[0] === 'X') return null;
  return fields[19]; // field 22 of stat: starttime
};

/** The parent of `pid` (0 when unknown). */
export const parentOf = (pid) => Number(statFields(pid)?.[1] ?? 0);

/** Whether any live process is still in process group `pgid`. */
const groupAlive = (pgid) => {
  if (!hasProc) {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  return readdirSync('/proc').some((name) => {
    if (!/^\d+$/.test(name)) return false;
    const fields = statFields(Number(name));
    return fields !== null && fields[0] !== 'Z' && fields[0] !== 'X' && Number(fields[2]) === pgid;
  });
};

const signal = (target, sig) => {
  try {
    process.kill(target, sig);
    return true;
  } catch {
    return false; // gone already (ESRCH), or never ours
  }
};

const waitUntil = async (condition, ms) => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await sleep(100);
  }
  return condition();
};

/** The folder of each data directory in `dir` (itself, or its immediate subfolders) with a running postmaster, and that postmaster's pid. */
const runningPostmasters = (dir) => {
  let folders;
  try {
    folders = existsSync(join(dir, 'PG_VERSION')) ? [dir] : readdirSync(dir).map((name) => join(dir, name));
  } catch {
    return [];
  }
  const found = [];
  for (const dataDir of folders) {
    let pid;
    try {
      pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      continue; // not a data directory, or not running
    }
    if (processStart(pid) === null) continue; // stale file of a crashed server
    // A postmaster runs in its data directory (it chdirs there at start): a pid reused by anything else is not one.
    if (hasProc) {
      try {
        if (readlinkSync(`/proc/${pid}/cwd`) !== realpathSync(dataDir)) continue;
      } catch {
        continue;
      }
    }
    found.push({ dataDir, pid });
  }
  return found;
};

/** The processes whose parent is `pid`. */
const childrenOf = (pid) =>
  hasProc ? readdirSync('/proc').filter((name) => /^\d+$/.test(name) && parentOf(Number(name)) === pid).map(Number) : [];

const killTree = (pid) => {
  signal(pid, 'SIGSTOP'); // starts nothing more meanwhile
  const tree = [];
  for (let level = [pid]; level.length; level = level.flatMap(childrenOf)) tree.push(...level);
  for (const member of tree.reverse()) signal(member, 'SIGKILL');
};

// ---- the watchdog process ----

async function watch() {
  const log = (text) => {
    try {
      process.stderr.write(`[watchdog] ${text}\n`);
    } catch {
      // nobody reads our output any more
    }
  };
  process.stderr.on('error', () => undefined);
  process.stdout.on('error', () => undefined);
  process.on('SIGHUP', () => undefined);
  process.on('SIGINT', () => undefined);
  const [stateDir, launcherPid] = [process.argv[2], Number(process.argv[3])];
  const owned = [];
  let buffered = '';

  const stopProcess = async ({ name, pid, start, group }, first, graceMs) => {
    const target = group ? -pid : pid;
    const leaderStart = processStart(pid);
    // The leader's pid now names another process: the one registered ended, and its group with it
    // (a pid is not given out while a process group of that number exists).
    if (leaderStart !== null && leaderStart !== start) return;
    const alive = () => (group ? groupAlive(pid) : processStart(pid) === start);
    if (!alive()) return;
    log(`stopping ${name} (pid ${pid}${group ? ' and its process group' : ''}) with ${first}`);
    signal(target, first);
    if (await waitUntil(() => !alive(), graceMs)) return;
    log(`${name} did not stop within ${graceMs / 1000} s: SIGKILL`);
    signal(target, 'SIGKILL');
    await waitUntil(() => !alive(), 5_000);
  };

  const stopPostgres = async ({ name, dir }) => {
    await Promise.all(
      runningPostmasters(dir).map(async ({ dataDir, pid }) => {
        const start = processStart(pid);
        const alive = () => processStart(pid) === start;
        log(`stopping ${name}: the PostgreSQL server in ${dataDir} (pid ${pid}), fast shutdown`);
        signal(pid, 'SIGCONT'); // a paused (SIGSTOP) postmaster would never act on it
        signal(pid, 'SIGINT');
        if (await waitUntil(() => !alive(), POSTGRES_GRACE_MS)) return;
        log(`the PostgreSQL server in ${dataDir} did not stop within ${POSTGRES_GRACE_MS / 1000} s: immediate shutdown`);
        signal(pid, 'SIGQUIT');
        if (await waitUntil(() => !alive(), 5_000)) return;
        killTree(pid);
      }),
    );
  };

  const stopEverything = async () => {
    const services = owned.filter((o) => o.kind === 'process' && o.role === 'service');
    const others = owned.filter((o) => !services.includes(o)).reverse();
    const running = (thing) =>
      thing.kind === 'postgres' ? runningPostmasters(thing.dir).length > 0 : processStart(thing.pid) === thing.start || (thing.group && groupAlive(thing.pid));
    if (owned.some(running)) log(`the launcher (pid ${launcherPid}) ended without stopping what it started: stopping it`);
    await Promise.all(services.map((s) => stopProcess(s, 'SIGTERM', SERVICE_GRACE_MS)));
    for (const thing of others) {
      if (thing.kind === 'postgres') await stopPostgres(thing);
      else await stopProcess(thing, thing.signal ?? 'SIGTERM', PROCESS_GRACE_MS);
    }
  };

  const finish = async () => {
    try {
      await stopEverything();
    } finally {
      try {
        const state = JSON.parse(readFileSync(join(stateDir, STATE_FILE), 'utf8'));
        if (state.watchdog?.pid === process.pid) rmSync(join(stateDir, STATE_FILE), { force: true });
      } catch {
        // no state file, or a newer launcher's
      }
      process.exit(0);
    }
  };

  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop();
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        const entry = JSON.parse(line);
        owned.push(entry);
      } catch (error) {
        log(`ignored a line the launcher sent (${error.message}): ${line.slice(0, 200)}`);
      }
    }
  });
  process.stdin.once('end', () => void finish());
  process.stdin.once('error', () => void finish());
}

// ---- the launcher's side ----

/**
 * Starts the watchdog of a launcher whose state lives in `stateDir` (after the previous launcher's,
 * if it is still stopping what that one left, has finished: the next `npm start` must not reopen the
 * demo's clusters just before they are stopped). Returns `own(entry)`: a PostgreSQL folder
 * (`{ kind: 'postgres', name, dir }`) before any server in it starts, a process
 * (`{ kind: 'process', role: 'service' | 'server', name, pid, group, signal }`) once spawned.
 */
export async function startWatchdog({ stateDir, say, fail }) {
  const stateFile = join(stateDir, STATE_FILE);
  try {
    const previous = JSON.parse(readFileSync(stateFile, 'utf8'));
    const launcherAlive = processStart(previous.launcher?.pid) !== null && processStart(previous.launcher.pid) === previous.launcher.start;
    const watchdogAlive = () => processStart(previous.watchdog?.pid) !== null && processStart(previous.watchdog.pid) === previous.watchdog.start;
    if (launcherAlive && previous.launcher.pid !== process.pid) {
      fail(`another npm start (pid ${previous.launcher.pid}) runs with ${stateDir}: stop it first (Ctrl-C, or kill ${previous.launcher.pid})`);
    }
    if (watchdogAlive()) {
      say(`waiting for the previous launcher's watchdog (pid ${previous.watchdog.pid}) to stop what that launcher left running…`);
      if (!(await waitUntil(() => !watchdogAlive(), PREVIOUS_WATCHDOG_WAIT_MS))) {
        fail(`the previous launcher's watchdog (pid ${previous.watchdog.pid}) is still stopping its servers after ${PREVIOUS_WATCHDOG_WAIT_MS / 1000} s`);
      }
    }
  } catch (error) {
    if (error.code !== 'ENOENT' && !(error instanceof SyntaxError)) throw error;
  }
  mkdirSync(stateDir, { recursive: true }); // a fresh checkout has no .continuity yet
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), stateDir, String(process.pid)], {
    detached: true, // a session of its own: signals to the launcher's terminal or process group miss it
    stdio: ['pipe', 'ignore', 'inherit'],
    cwd: '/', // holds no folder of the checkout (a removed checkout's servers are still stopped)
  });
  child.unref();
  child.stdin.unref?.();
  child.stdin.on('error', () => undefined);
  writeFileSync(stateFile, JSON.stringify({ launcher: { pid: process.pid, start: processStart(process.pid) }, watchdog: { pid: child.pid, start: processStart(child.pid) } }) + '\n');
  const send = (line) => {
    if (!child.stdin.destroyed) child.stdin.write(line + '\n');
  };
  return {
    pid: child.pid,
    // A process's start time is read here, right after its spawn: the watchdog will not take a later holder of its pid for it.
    own: (entry) => send(JSON.stringify(entry.kind === 'process' ? { ...entry, start: processStart(entry.pid) } : entry)),
  };
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await watch();
