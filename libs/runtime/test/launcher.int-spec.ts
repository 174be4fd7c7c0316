import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { freePort } from '@continuity/messaging';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { createTestDatabase, PgCluster, PgNode, TEST_CONTINUITY_TOKENS } from '../src/testing.js';

/**
 * `npm start`'s launcher (scripts/start.mjs), run as npm runs it, on the demo estate in a state
 * folder of its own: however it ends, no PostgreSQL server of the demo, no service and no watchdog
 * of it is left running (decision 0046).
 */
const repoRoot = join(__dirname, '..', '..', '..');
const startScript = join(repoRoot, 'scripts', 'start.mjs');
const watchdogScript = join(repoRoot, 'scripts', 'launcher-watchdog.mjs');

/** /proc/<pid>/stat after the command: [state, ppid, pgrp, …, starttime at 19]; null when gone. */
const stat = (pid: number): string[] | null => {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
};
const running = (pid: number) => {
  const fields = stat(pid);
  return fields !== null && fields[0] !== 'Z' && fields[0] !== 'X';
};
const pids = () => readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
const cmdline = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
};
const cwd = (pid: number) => {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return '';
  }
};
/** Every live process of the demo's PostgreSQL servers: postmasters and backends run in their data directory. */
const postgresIn = (dataDirs: string[]) => pids().filter((pid) => running(pid) && dataDirs.includes(cwd(pid)));
const kill = (target: number, signal: NodeJS.Signals) => {
  try {
    process.kill(target, signal);
  } catch {
    // gone already
  }
};
const childrenOf = (pid: number) => pids().filter((p) => Number(stat(p)?.[1]) === pid && running(p));

interface Launch {
  leader: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

describe("npm start's launcher stops what it started, however it ends (real launcher, demo estate, services)", () => {
  const checkout = mkdtempSync(join(tmpdir(), 'continuity-launcher-test-'));
  const stateDir = join(checkout, '.continuity'); // made by the launcher, as in a fresh checkout
  const demoDir = join(stateDir, 'demo');
  let ports: number[] = [];
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let nc: Awaited<ReturnType<typeof connectTestNats>>;
  let topology: Awaited<ReturnType<typeof createTestTopology>>;
  let dataDirs: string[] = [];
  let pgRoot = '';
  const leaders: ChildProcess[] = [];

  beforeAll(async () => {
    nc = await connectTestNats();
    topology = await createTestTopology(nc, 'launch');
    db = await createTestDatabase('launcher');
    for (let i = 0; i < 4; i++) ports.push(await freePort());
    ports = [...new Set(ports)];
    expect(ports).toHaveLength(4);
  });

  afterAll(async () => {
    // Whatever a failed test left: the services, the demo's servers.
    for (const pid of pids().filter((p) => cmdline(p).includes(stateDir) || cmdline(p).includes(startScript))) kill(pid, 'SIGKILL');
    for (const pid of postgresIn(dataDirs)) kill(pid, 'SIGKILL');
    // What the services made in NATS: the namespace's streams and buckets (the failover service's KV), the demo's object store.
    const jsm = await jetstreamManager(nc);
    const made: string[] = [];
    for await (const stream of jsm.streams.list()) if (stream.config.name.includes(topology.namespace)) made.push(stream.config.name);
    made.push(`OBJ_continuity-demo-${createHash('sha256').update(demoDir).digest('hex').slice(0, 8)}`);
    for (const name of made) await jsm.streams.delete(name).catch(() => undefined);
    await topology?.remove();
    await db?.drop();
    await nc?.close();
    if (pgRoot && pgRoot !== join(demoDir, 'pg')) rmSync(pgRoot, { recursive: true, force: true });
    rmSync(checkout, { recursive: true, force: true });
  });

  // A test that failed half-way leaves no launcher for the next one: its group is killed, its
  // watchdog (resumed, should the test have paused it) stops the rest.
  afterEach(async () => {
    for (const leader of leaders.splice(0)) kill(-leader.pid!, 'SIGKILL');
    for (const pid of pids().filter((p) => cmdline(p).includes('launcher-watchdog.mjs') && cmdline(p).includes(stateDir))) kill(pid, 'SIGCONT');
    await pollUntil(() => postgresIn(dataDirs).length === 0 && !pids().some((p) => running(p) && cmdline(p).includes(stateDir)), {
      timeoutMs: 60_000,
      what: 'what a failed test left to stop',
    });
  });

  /** Starts `command` as a process group leader (as a terminal or `setsid npm start` does) with the launcher under it. */
  const launch = (command: string[], env: Record<string, string> = {}): Launch => {
    const leader = spawn(command[0]!, command.slice(1), {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        CONTINUITY_STATE_DIR: stateDir,
        CONTINUITY_PORTS: ports.join(','),
        CONTINUITY_NAMESPACE: topology.namespace,
        CONTINUITY_TOKENS: TEST_CONTINUITY_TOKENS,
        NATS_URL: 'nats://127.0.0.1:4222',
        DATABASE_URL: db.url,
        ...env,
      },
    });
    leaders.push(leader);
    let text = '';
    leader.stdout!.on('data', (chunk) => (text += chunk));
    leader.stderr!.on('data', (chunk) => (text += chunk));
    const exited = new Promise<number | null>((resolve) => leader.once('exit', (code) => resolve(code)));
    return { leader, output: () => text, exited };
  };

  /** Waits for the services and the demo's pair; returns the launcher's pid, its services and watchdog, and the pair's ports. */
  const upAndRunning = async (run: Launch, launcherPid: () => number | undefined) => {
    const up = () => run.output().includes('[start] Ctrl-C stops everything.');
    try {
      await pollUntil(() => up() || run.leader.exitCode !== null, { timeoutMs: 180_000, intervalMs: 200, what: 'the launcher to start everything' });
      expect(up()).toBe(true);
    } catch (error) {
      throw new Error(`${(error as Error).message}; it printed:\n${run.output()}`);
    }
    const pid = launcherPid()!;
    expect(pid).toBeGreaterThan(0);
    const children = childrenOf(pid);
    const services = children.filter((p) => cmdline(p).includes('/dist/main.js')).map((p) => ({ pid: p, start: stat(p)![19] }));
    const watchdog = children.find((p) => cmdline(p).includes('launcher-watchdog.mjs'));
    expect(services).toHaveLength(4);
    expect(watchdog).toBeDefined();
    // The watchdog has a session of its own: a signal to the launcher's group misses it.
    expect(stat(watchdog!)![3]).not.toBe(stat(pid)![3]);
    pgRoot = realpathSync(join(demoDir, 'pg'));
    dataDirs = readdirSync(pgRoot)
      .map((name) => join(pgRoot, name))
      .filter((dir) => existsSync(join(dir, 'PG_VERSION')));
    expect(dataDirs).toHaveLength(2);
    // Both members run: their postmasters and backends.
    expect(dataDirs.every((dir) => postgresIn([dir]).length > 0)).toBe(true);
    const pairPorts = /on 127\.0\.0\.1:(\d+), demo-pg-b \(hot standby\) on 127\.0\.0\.1:(\d+)/.exec(run.output())!.slice(1, 3).map(Number);
    return { pid, services, watchdog: { pid: watchdog!, start: stat(watchdog!)![19] }, pairPorts };
  };

  /** Nothing the launcher started is left: no PostgreSQL process in the demo's folders, no service, no watchdog. */
  const nothingLeft = async (started: Awaited<ReturnType<typeof upAndRunning>>, run: Launch) => {
    const left = () => ({
      postgres: postgresIn(dataDirs),
      services: started.services.filter((s) => running(s.pid) && stat(s.pid)![19] === s.start).map((s) => s.pid),
      watchdog: running(started.watchdog.pid) && stat(started.watchdog.pid)![19] === started.watchdog.start,
    });
    try {
      await pollUntil(() => {
        const now = left();
        return now.postgres.length === 0 && now.services.length === 0 && !now.watchdog;
      }, { timeoutMs: 60_000, intervalMs: 200, what: 'every demo PostgreSQL process, service and the watchdog to be gone' });
    } catch (error) {
      throw new Error(`${(error as Error).message}: ${JSON.stringify(left())}; the launcher printed:\n${run.output()}`);
    }
    for (const port of ports) {
      const listening = await fetch(`http://127.0.0.1:${port}/health/live`).then(() => true, () => false);
      expect(listening).toBe(false);
    }
  };

  let firstPairPorts: number[] = [];

  it('SIGKILL of its whole process group: the watchdog stops the services and both demo servers', async () => {
    const run = launch([process.execPath, startScript]);
    const started = await upAndRunning(run, () => run.leader.pid);
    firstPairPorts = started.pairPorts;
    process.kill(-started.pid, 'SIGKILL');
    await nothingLeft(started, run);
    expect(run.output()).toContain('[watchdog] the launcher');
    expect(run.output()).toMatch(/\[watchdog\] stopping the demo estate: the PostgreSQL server in .*demo-pg-a/);
  }, 300_000);

  it('SIGTERM of its process group: it stops everything itself, and reopens the same pair first', async () => {
    const run = launch([process.execPath, startScript]);
    const started = await upAndRunning(run, () => run.leader.pid);
    expect(run.output()).toContain('reopening the demo PostgreSQL pair');
    expect(started.pairPorts).toEqual(firstPairPorts);
    process.kill(-started.pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise((resolve) => (timer = setTimeout(() => resolve('still running after 60 s'), 60_000)));
    expect(await Promise.race([run.exited, late])).toBe(0);
    clearTimeout(timer);
    await nothingLeft(started, run);
    expect(run.output()).toContain('[start] all stopped');
    expect(run.output()).not.toContain('[watchdog]'); // nothing was left for it
  }, 300_000);

  it('a start right after a SIGKILL waits for the watchdog, then reopens the same pair; SIGHUP stops it gracefully', async () => {
    const killed = launch([process.execPath, startScript]);
    const before = await upAndRunning(killed, () => killed.leader.pid);
    process.kill(-before.pid, 'SIGKILL');
    // Held still, the watchdog stands for one that takes its time: the next start must wait for it.
    process.kill(before.watchdog.pid, 'SIGSTOP');
    const run = launch([process.execPath, startScript]);
    await pollUntil(() => run.output().includes(`waiting for the previous launcher's watchdog (pid ${before.watchdog.pid})`), {
      timeoutMs: 30_000,
      what: 'the next launcher to wait for the watchdog',
    });
    expect(run.output()).not.toContain('reopening'); // nothing opened meanwhile
    process.kill(before.watchdog.pid, 'SIGCONT');
    const started = await upAndRunning(run, () => run.leader.pid);
    expect(killed.output()).toContain('[watchdog] the launcher');
    // The old watchdog is done and has not stopped the pair under the new launcher.
    expect(running(before.watchdog.pid)).toBe(false);
    expect(started.pairPorts).toEqual(firstPairPorts);
    expect(dataDirs.every((dir) => postgresIn([dir]).length > 0)).toBe(true);
    process.kill(started.pid, 'SIGHUP'); // the launcher alone, as a closed terminal does
    await nothingLeft(started, run);
    expect(run.output()).toContain('[start] all stopped');
    expect(run.output()).not.toContain('[watchdog]');
  }, 300_000);

  it('npm killed above it (npm → sh → launcher): it sees npm gone and stops everything itself', async () => {
    // A stand-in for npm: titled as npm titles itself, running the launcher through `sh -c` as npm does.
    const npm = `process.title = 'npm start'; require('node:child_process').spawn('sh', ['-c', ${JSON.stringify(`${process.execPath} ${startScript}`)}], { stdio: 'inherit' }); setInterval(() => undefined, 60_000);`;
    const run = launch([process.execPath, '-e', npm], { npm_lifecycle_event: 'start' });
    const launcherPid = () => pids().find((p) => cmdline(p).includes(startScript) && Number(stat(Number(stat(p)?.[1]))?.[1]) === run.leader.pid);
    const started = await upAndRunning(run, launcherPid);
    process.kill(run.leader.pid!, 'SIGKILL'); // npm alone: the shell and the launcher stay
    await nothingLeft(started, run);
    expect(running(started.pid)).toBe(false);
    expect(run.output()).toContain(`[start] npm (pid ${run.leader.pid}) is gone: stopping`);
    expect(run.output()).toContain('[start] all stopped');
    expect(run.output()).not.toContain('[watchdog]');
  }, 300_000);

  it("SIGKILL of its group: a PostgreSQL server of someone else's, beside the pair or linked into its folder, is left running", async () => {
    const run = launch([process.execPath, startScript]);
    const started = await upAndRunning(run, () => run.leader.pid);
    // Started after the launcher registered the pair: only where they are tells them apart.
    const besideRoot = mkdtempSync(join(tmpdir(), 'continuity-not-the-demos-'));
    const linkedRoot = mkdtempSync(join(tmpdir(), 'continuity-not-the-demos-'));
    const linked = await PgCluster.create({ root: linkedRoot, names: ['linked'], standbys: 0 });
    symlinkSync(linked.primary.dataDir, join(pgRoot, 'linked'));
    const made = await PgCluster.create({ root: besideRoot, names: ['beside'], standbys: 0 });
    await made.stop();
    renameSync(made.primary.dataDir, join(pgRoot, 'beside'));
    const beside = new PgNode('beside', made.primary.port, join(pgRoot, 'beside'), join(besideRoot, 'beside.log'));
    try {
      await beside.start();
      const theirs = [beside, linked.primary].map((node) => ({ node, pid: node.pid()!, start: stat(node.pid()!)![19] }));
      expect(theirs.every(({ pid }) => pid > 0)).toBe(true);
      process.kill(-started.pid, 'SIGKILL');
      await nothingLeft(started, run); // the pair is stopped
      expect(run.output()).toMatch(/\[watchdog\] stopping the demo estate: the PostgreSQL server in .*demo-pg-a/);
      expect(run.output()).not.toMatch(/\[watchdog\] stopping .*(beside|linked)/);
      for (const { node, pid, start } of theirs) {
        expect(running(pid) && stat(pid)![19] === start).toBe(true);
        expect(await node.query('select 1 as one')).toEqual([{ one: 1 }]);
      }
    } finally {
      await beside.stop('fast').catch(() => undefined);
      await linked.stop();
      rmSync(join(pgRoot, 'linked'), { force: true });
      rmSync(join(pgRoot, 'beside'), { recursive: true, force: true });
      for (const dir of [besideRoot, linkedRoot]) rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
  it('SIGKILL of its group: a demo server already running when the launcher started (not started by it) is left running', async () => {
    // As a developer's own server in the embedded PostgreSQL's folder would be: the launcher finds it running.
    const own = new PgNode('demo-pg-a', firstPairPorts[0]!, join(pgRoot, 'demo-pg-a'), join(pgRoot, 'demo-pg-a.log'));
    await own.start();
    try {
      const theirs = { pid: own.pid()!, start: stat(own.pid()!)![19] };
      const run = launch([process.execPath, startScript]);
      const started = await upAndRunning(run, () => run.leader.pid);
      expect(own.pid()).toBe(theirs.pid); // reopened as it was
      process.kill(-started.pid, 'SIGKILL');
      const standby = dataDirs.filter((dir) => dir.endsWith('demo-pg-b'));
      await pollUntil(
        () => postgresIn(standby).length === 0 && !started.services.some((s) => running(s.pid)) && !running(started.watchdog.pid),
        { timeoutMs: 60_000, intervalMs: 200, what: 'the standby, the services and the watchdog to be gone' },
      );
      expect(run.output()).toMatch(/\[watchdog\] stopping the demo estate: the PostgreSQL server in .*demo-pg-b/);
      expect(run.output()).not.toMatch(/\[watchdog\] stopping the demo estate: the PostgreSQL server in .*demo-pg-a/);
      expect(running(theirs.pid) && stat(theirs.pid)![19] === theirs.start).toBe(true);
      expect(await own.query('select 1 as one')).toEqual([{ one: 1 }]);
    } finally {
      await own.stop('fast').catch(() => undefined);
    }
  }, 300_000);
});

/**
 * The watchdog alone (scripts/launcher-watchdog.mjs), told of processes through its pipe as the
 * launcher tells it: it forgets a process once it has ended, so a later holder of its pid (and of
 * a process group of that number) is never signalled; what was left of an ended leader's group is.
 */
describe("the launcher's watchdog keeps only processes that still run (a reused pid is not taken for one)", () => {
  let stateDir = '';
  const groups: number[] = [];

  beforeAll(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'continuity-watchdog-test-'));
  });

  afterAll(() => {
    for (const pgid of groups) kill(-pgid, 'SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  });

  const startWatchdog = () => {
    const child = spawn(process.execPath, [watchdogScript, stateDir, String(process.pid)], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, CONTINUITY_WATCHDOG_VERBOSE: '1' },
    });
    let text = '';
    child.stderr!.on('data', (chunk) => (text += chunk));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return {
      send: (line: object) => child.stdin!.write(JSON.stringify(line) + '\n'),
      output: () => text,
      /** What the kernel does when the launcher dies: the pipe's end of file. */
      end: async () => (child.stdin!.end(), await exited),
    };
  };

  /** A process group of its own whose leader prints its members' pids and then waits (or, with `leave`, exits at once). */
  const group = async (leave: boolean) => {
    const leader = spawn('sh', ['-c', `sleep 600 & echo $!; ${leave ? 'exit 0' : 'wait'}`], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    groups.push(leader.pid!);
    let text = '';
    leader.stdout!.on('data', (chunk) => (text += chunk));
    const member = Number(await pollUntil(() => (/^\d+\n/.test(text) ? text : null), { what: 'the group to start its member' }));
    return { leader, member, exited: new Promise<void>((resolve) => (leader.exitCode !== null ? resolve() : leader.once('exit', () => resolve()))) };
  };

  it('an ended leader: the members its group still had are stopped by pid; after that the entry is gone', async () => {
    const watchdog = startWatchdog();
    const { leader, member, exited } = await group(false);
    watchdog.send({ kind: 'process', role: 'service', name: 'the crashed service', pid: leader.pid, start: stat(leader.pid!)![19], group: true });
    kill(leader.pid!, 'SIGKILL');
    await exited;
    expect(running(member)).toBe(true);
    watchdog.send({ kind: 'gone', pid: leader.pid });
    await watchdog.end();
    expect(running(member)).toBe(false);
    expect(watchdog.output()).toContain(`stopping the crashed service (pid ${leader.pid} and its process group: what is left of it, ${member}) with SIGTERM`);
  }, 60_000);

  it('an ended process group whose pid is given to a new group: the new group is left alone', async () => {
    const watchdog = startWatchdog();
    const first = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
    const pid = first.pid!;
    groups.push(pid);
    const gone = new Promise<void>((resolve) => first.once('exit', () => resolve()));
    watchdog.send({ kind: 'process', role: 'service', name: 'the restarted service', pid, start: stat(pid)![19], group: true });
    kill(pid, 'SIGKILL');
    await gone;
    watchdog.send({ kind: 'gone', pid });
    await pollUntil(() => watchdog.output().includes(`the restarted service (pid ${pid}) has ended: no longer watched`), { what: 'the watchdog to drop it' });
    // The kernel gives out `pid` again (as root, ns_last_pid says which pid comes next): to a
    // group leader that leaves a member behind, so the group `pid` lives on without its leader.
    let reused: Awaited<ReturnType<typeof group>> | undefined;
    for (let attempt = 0; attempt < 100 && !reused; attempt++) {
      writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
      const candidate = await group(true);
      if (candidate.leader.pid === pid) reused = candidate;
      else kill(-candidate.leader.pid!, 'SIGKILL');
    }
    expect(reused).toBeDefined();
    await reused!.exited;
    expect(Number(stat(reused!.member)![2])).toBe(pid); // in process group `pid`, whose leader is gone
    await watchdog.end();
    expect(running(reused!.member)).toBe(true);
    expect(watchdog.output()).not.toContain('stopping');
  }, 60_000);
});
