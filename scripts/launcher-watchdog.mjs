// The launcher's watchdog: stops what `npm start` started when the launcher itself cannot (it was
// SIGKILLed, alone or with its whole process group, or died some other way before its own stop ran).
//
// Delivery guarantee: the launcher starts this process first, in a session of its own (so no signal
// meant for the launcher's terminal or process group reaches it), with a pipe that only the launcher
// holds open; it tells the watchdog, one JSON line each, what it owns — the data directories of the
// PostgreSQL servers it is about to start (with the postmasters already running in them, which are
// not its own), a process as soon as it is spawned, and that process again ("gone") when it ends.
// Whatever way the launcher ends, the kernel closes the pipe; at end of file the watchdog stops what
// still runs of it (after the launcher's own graceful stop, nothing), in this order:
//   1. the services, together: SIGTERM to each one's process group, SIGKILL after SERVICE_GRACE_MS;
//   2. every other server, last registered first: the postmasters of its data directories with
//      SIGINT (what `pg_ctl stop -m fast` sends), SIGQUIT after POSTGRES_GRACE_MS, then SIGKILL of
//      the postmaster's tree; a process (nats-server) with SIGTERM, then SIGKILL.
// A process (group) is signalled only while its leader is the process registered (its start time
// in /proc/<pid>/stat); once the leader has ended, only the members its group then had, each by
// pid and start time; once none runs, never again (`settle`; checked every POLL_MS and on "gone").
// A postmaster only in a registered data directory that is a real folder under the registered root
// (no symbolic link), running the postgres program in that folder, and not already running at
// registration. Then it exits. See docs/decisions/0046-launcher-watchdog.md.
//
// The launcher side: `startWatchdog` below (scripts/start.mjs).
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVICE_GRACE_MS = 15_000;
const POSTGRES_GRACE_MS = 30_000;
const PROCESS_GRACE_MS = 10_000;
const PREVIOUS_WATCHDOG_WAIT_MS = 120_000;
const POLL_MS = 2_000;
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

/** The program a process runs: the basename of /proc/<pid>/exe, or its comm when that link is not readable. */
const programOf = (pid) => {
  try {
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '').split('/').pop();
  } catch {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      return null;
    }
  }
};

/**
 * The data directories a PostgreSQL entry names, each `root/<name>`, only where that stays a real
 * folder under the real root: a symbolic link (the member itself) or a name leading out of
 * the root is refused (a link planted in a shared temp folder must not lead the watchdog to a
 * server the launcher never started). A member not made yet is kept: its server may start later.
 */
export const dataDirsOf = ({ root, dataDirs }) => {
  let realRoot;
  try {
    realRoot = realpathSync(root); // the launcher's own choice (the demo's link into the temp dir resolved)
  } catch {
    return [];
  }
  const dirs = [];
  for (const name of dataDirs ?? []) {
    const dataDir = resolve(realRoot, name);
    if (dataDir !== realRoot && !dataDir.startsWith(realRoot + sep)) continue;
    try {
      if (lstatSync(dataDir).isSymbolicLink() || realpathSync(dataDir) !== dataDir) continue;
    } catch (error) {
      if (error.code !== 'ENOENT') continue;
    }
    dirs.push(dataDir);
  }
  return dirs;
};

/**
 * The running postmaster of each of `dataDirs`, with its pid and start time: the pid its
 * postmaster.pid names, when that process runs the postgres program in that very folder (a
 * postmaster chdirs to its data directory; a stale file's pid reused by anything else is not one).
 */
export const runningPostmasters = (dataDirs) => {
  const found = [];
  for (const dataDir of dataDirs) {
    let pid;
    try {
      if (lstatSync(dataDir).isSymbolicLink()) continue;
      pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      continue; // not a data directory, or not running
    }
    const start = processStart(pid);
    if (start === null) continue; // stale file of a crashed server
    if (hasProc) {
      try {
        if (readlinkSync(`/proc/${pid}/cwd`) !== realpathSync(dataDir)) continue;
      } catch {
        continue;
      }
      if (programOf(pid) !== 'postgres') continue;
    }
    found.push({ dataDir, pid, start });
  }
  return found;
};

/**
 * The bookkeeping of a registered process (group): `settle` brings an entry up to date and says
 * whether it may still be signalled. While its leader runs (same start time) it is its process
 * group. Once the leader is gone (the launcher says so, or a poll sees it) the group's members then
 * alive are taken by pid and start time, and only they are signalled from then on (a pid is reused
 * only once no group of that number is left, so these are the group's own); once none of them
 * runs, or the leader's pid already names another process, the entry is dead for good.
 */
export const settle = (entry) => {
  if (entry.dead) return false;
  if (entry.members === undefined || entry.members === null) {
    const now = processStart(entry.pid);
    if (now !== null && now === entry.start) return true;
    if (now !== null || !entry.group) {
      entry.dead = true; // gone, or its pid reused
      return false;
    }
    entry.members = groupMembers(entry.pid);
  }
  entry.members = entry.members.filter((m) => processStart(m.pid) === m.start);
  if (entry.members.length === 0) entry.dead = true;
  return !entry.dead;
};

/** The live processes of process group `pgid`, with their start times. */
const groupMembers = (pgid) => {
  if (!hasProc) return [];
  const members = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    if (fields !== null && fields[0] !== 'Z' && fields[0] !== 'X' && Number(fields[2]) === pgid) members.push({ pid: Number(name), start: fields[19] });
  }
  return members;
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
  const verbose = Boolean(process.env.CONTINUITY_WATCHDOG_VERBOSE); // also says when it drops an ended process (tests wait for it)
  const owned = [];
  let buffered = '';

  // Signals what `settle` still allows: the group while its leader runs, else each member left of it.
  const signalEntry = (entry, sig) => {
    if (!settle(entry)) return;
    if (entry.members) for (const m of entry.members) processStart(m.pid) === m.start && signal(m.pid, sig);
    else signal(entry.group ? -entry.pid : entry.pid, sig);
  };

  const stopProcess = async (entry, first, graceMs) => {
    if (!settle(entry)) return;
    const { name, pid, group } = entry;
    log(`stopping ${name} (pid ${pid}${group ? ' and its process group' : ''}${entry.members ? `: what is left of it, ${entry.members.map((m) => m.pid).join(', ')}` : ''}) with ${first}`);
    signalEntry(entry, first);
    if (await waitUntil(() => !settle(entry), graceMs)) return;
    log(`${name} did not stop within ${graceMs / 1000} s: SIGKILL`);
    signalEntry(entry, 'SIGKILL');
    await waitUntil(() => !settle(entry), 5_000);
  };

  // The postmasters of an entry's own data directories, but for those already running when the launcher registered it.
  const ourPostmasters = (entry) =>
    runningPostmasters(dataDirsOf(entry)).filter(({ pid, start }) => !(entry.already ?? []).some((a) => a.pid === pid && a.start === start));

  const stopPostgres = async (entry) => {
    await Promise.all(
      ourPostmasters(entry).map(async ({ dataDir, pid, start }) => {
        const alive = () => processStart(pid) === start;
        log(`stopping ${entry.name}: the PostgreSQL server in ${dataDir} (pid ${pid}), fast shutdown`);
        signal(pid, 'SIGCONT'); // a paused (SIGSTOP) postmaster would never act on it
        signal(pid, 'SIGINT');
        if (await waitUntil(() => !alive(), POSTGRES_GRACE_MS)) return;
        log(`the PostgreSQL server in ${dataDir} did not stop within ${POSTGRES_GRACE_MS / 1000} s: immediate shutdown`);
        signal(pid, 'SIGQUIT');
        if (await waitUntil(() => !alive(), 5_000)) return;
        if (alive()) killTree(pid);
      }),
    );
  };

  const stopEverything = async () => {
    clearInterval(poll);
    const services = owned.filter((o) => o.kind === 'process' && o.role === 'service');
    const others = owned.filter((o) => !services.includes(o)).reverse();
    const running = (thing) => (thing.kind === 'postgres' ? ourPostmasters(thing).length > 0 : settle(thing));
    if (owned.some(running)) log(`the launcher (pid ${launcherPid}) ended without stopping what it started: stopping it`);
    await Promise.all(services.map((s) => stopProcess(s, 'SIGTERM', SERVICE_GRACE_MS)));
    for (const thing of others) {
      if (thing.kind === 'postgres') await stopPostgres(thing);
      else await stopProcess(thing, thing.signal ?? 'SIGTERM', PROCESS_GRACE_MS);
    }
  };

  // An ended process is dropped (and never signalled again) soon after it ends, told or not.
  const forget = () => {
    for (let i = owned.length - 1; i >= 0; i--) {
      if (owned[i].kind !== 'process' || settle(owned[i])) continue;
      if (verbose) log(`${owned[i].name} (pid ${owned[i].pid}) has ended: no longer watched`);
      owned.splice(i, 1);
    }
  };
  const poll = setInterval(forget, POLL_MS);

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
        if (entry.kind === 'gone') {
          // The launcher saw this child end: settle it now (its group's members, if any, are taken as they are).
          for (const o of owned) if (o.kind === 'process' && o.pid === entry.pid) settle(o);
          forget();
        } else owned.push(entry);
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
 * demo's clusters just before they are stopped). Returns `own(entry)`: the data directories of the
 * PostgreSQL servers the launcher is about to start (`{ kind: 'postgres', name, root, dataDirs }`,
 * each a name in `root`) before it starts them, a process
 * (`{ kind: 'process', role: 'service' | 'server', name, pid, group, signal }`) once spawned; and
 * `gone(pid)` once such a process has ended.
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
    // A PostgreSQL entry carries the postmasters already running in its data directories now, before the launcher starts
    // any: those are not the launcher's (someone else's server, or a member reopened as it was) and are left alone.
    own: (entry) =>
      send(
        JSON.stringify(
          entry.kind === 'process'
            ? { ...entry, start: processStart(entry.pid) }
            : { ...entry, already: runningPostmasters(dataDirsOf(entry)).map(({ pid, start }) => ({ pid, start })) },
        ),
      ),
    /** A child the launcher owned has ended: the watchdog drops it (what is left of its group is taken by pid). */
    gone: (pid) => send(JSON.stringify({ kind: 'gone', pid })),
  };
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await watch();
