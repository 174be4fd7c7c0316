import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from '@continuity/messaging';

/**
 * Real PostgreSQL streaming replication for tests, benchmarks and the demo estate: a primary and
 * streaming standbys on free ports in a folder, run as the `postgres` OS user when we are root
 * (PostgreSQL refuses to run as root). A temporary cluster (no `root` given) is deleted by
 * `remove()`, and by a process-exit hook for clusters a crashed test left behind; a kept one (in
 * `root`, reopened with `PgCluster.reopen`) is only stopped.
 *
 * Small and fast on purpose: shared_buffers 16MB, fsync off, no autovacuum. Not for data you keep.
 */

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Whether the server programs this harness runs are installed (the demo estate says why not when they are not). */
export const pgServerBinariesPresent = () => ['initdb', 'pg_ctl', 'pg_basebackup'].every((binary) => existsSync(join(PG_BIN, binary)));

/** Whether PostgreSQL's OS user (when we are root) can reach `dir`: initdb needs every folder above its data to be traversable. */
export const pgUserCanUse = (dir: string) => !asRoot || spawnSync('runuser', ['-u', PG_USER, '--', 'test', '-x', dir, '-a', '-w', dir]).status === 0;

/** Hands `dir` to PostgreSQL's OS user when we are root. */
export const giveToPgUser = (dir: string) => {
  if (asRoot) chownSync(dir, uid(PG_USER), gid(PG_USER));
};

/** The file a kept cluster records its members' names and ports in, to be reopened on the same ports. */
const LAYOUT_FILE = 'cluster.json';

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const PG_USER = 'postgres';

const run = (binary: string, args: string[], what: string, options: { allowFail?: boolean; timeoutMs?: number } = {}) => {
  const path = join(PG_BIN, binary);
  if (!existsSync(path)) throw new Error(`${path} not found: install PostgreSQL 15 or set PG_BIN to its bin folder`);
  const [command, fullArgs] = asRoot ? ['runuser', ['-u', PG_USER, '--', path, ...args]] : [path, args];
  const result = spawnSync(command, fullArgs, { encoding: 'utf8', timeout: options.timeoutMs ?? 60_000 });
  if (!options.allowFail && (result.error || result.status !== 0)) {
    throw new Error(`${what} failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr || result.stdout}`);
  }
  return result;
};

/**
 * As `run`, without blocking the event loop: a service under test in the same process keeps
 * probing while a cluster starts or a standby is copied.
 */
const runAsync = (binary: string, args: string[], what: string, options: { allowFail?: boolean; timeoutMs?: number } = {}) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const path = join(PG_BIN, binary);
    if (!existsSync(path)) return reject(new Error(`${path} not found: install PostgreSQL 15 or set PG_BIN to its bin folder`));
    const [command, fullArgs] = asRoot ? ['runuser', ['-u', PG_USER, '--', path, ...args]] : [path, args];
    const child = spawn(command, fullArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${what} failed: ${error.message}`));
    });
    child.once('close', (status) => {
      clearTimeout(timer);
      if (!options.allowFail && status !== 0) return reject(new Error(`${what} failed (exit ${status}): ${stderr || stdout}`));
      resolve({ status, stdout, stderr });
    });
  });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free loopback port (kept under this name for the harness's callers). */
export const freeTcpPort = freePort;

const live = new Set<PgCluster>();
process.once('exit', () => {
  for (const cluster of live) cluster.removeSync();
});


/** The processes whose parent is `pid` (Linux: /proc/<pid>/stat, whose fourth field is the parent's pid). */
const childPids = (pid: number): number[] =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        // The command (second field) is in parentheses and may hold spaces: read after its last ')'.
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false; // exited meanwhile
      }
    })
    .map(Number);
export class PgNode {
  constructor(
    readonly name: string,
    readonly port: number,
    readonly dataDir: string,
    private readonly logFile: string,
  ) {}

  /** Superuser URL (trust auth). */
  get url() {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** PID of the postmaster, from postmaster.pid; null when it is not running. */
  pid(): number | null {
    try {
      const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (!Number.isInteger(pid) || pid <= 0) return null;
      process.kill(pid, 0);
      return pid;
    } catch {
      return null;
    }
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Starts the postmaster; retries while a killed predecessor's backends still hold shared memory. */
  async start(): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const result = await runAsync('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', '20', 'start'], `pg_ctl start ${this.name}`, { allowFail: true });
      if (result.status === 0) return;
      if (Date.now() > deadline) throw new Error(`pg_ctl start ${this.name} failed: ${result.stderr || result.stdout}\n${this.log().slice(-2000)}`);
      await sleep(100);
    }
  }

  /** `pg_ctl stop -m immediate` (crash-like); a stopped (SIGSTOP) postmaster is continued first. */
  async stop(mode: 'immediate' | 'fast' = 'immediate'): Promise<void> {
    const pid = this.pid();
    if (pid === null) return;
    this.resume();
    const result = await runAsync('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '20', 'stop'], `pg_ctl stop ${this.name}`, { allowFail: true });
    if (result.status !== 0 && this.pid() !== null) this.kill9();
  }

  /** `stop` for the process-exit hook, where nothing asynchronous runs any more. */
  stopSync(): void {
    if (this.pid() === null) return;
    this.resume();
    const result = run('pg_ctl', ['-D', this.dataDir, '-m', 'immediate', '-w', '-t', '20', 'stop'], `pg_ctl stop ${this.name}`, { allowFail: true });
    if (result.status !== 0 && this.pid() !== null) this.kill9();
  }

  /**
   * SIGKILL the server whole, as a crash of its machine would: the postmaster and every process it
   * started. Killing the postmaster alone leaves its backends running until they notice, and one
   * in the middle of a commit finishes it after the "crash". Returns the postmaster's pid.
   */
  kill9(): number {
    const pid = this.pid();
    if (pid === null) throw new Error(`${this.name} is not running`);
    process.kill(pid, 'SIGSTOP');
    // Its whole tree (an archive_command's shell is a grandchild), children first: the stopped
    // postmaster starts nothing meanwhile, and none of them outlives it by a commit.
    const tree: number[] = [];
    for (let level = [pid]; level.length; level = level.flatMap(childPids)) tree.push(...level);
    for (const member of tree.reverse()) {
      try {
        process.kill(member, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    return pid;
  }

  /** SIGSTOP the postmaster: running sessions go on, new connections hang (a network-like stall). */
  pause(): void {
    const pid = this.pid();
    if (pid === null) throw new Error(`${this.name} is not running`);
    process.kill(pid, 'SIGSTOP');
  }

  resume(): void {
    const pid = this.pid();
    if (pid !== null) process.kill(pid, 'SIGCONT');
  }

  async restart(): Promise<void> {
    await this.stop('fast');
    await this.start();
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: this.url, connectionTimeoutMillis: 5_000, query_timeout: 30_000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async isInRecovery(): Promise<boolean> {
    return (await this.query<{ r: boolean }>('select pg_is_in_recovery() as r'))[0]!.r;
  }

  /** Inserts `count` rows into `items` (created if missing); returns their ids. */
  async insertRows(count: number, note = 'row'): Promise<number[]> {
    await this.query('create table if not exists items (id bigserial primary key, note text not null, at timestamptz not null default now())');
    const rows = await this.query<{ id: string }>('insert into items (note) select $1 || g from generate_series(1, $2) g returning id', [note, count]);
    return rows.map((r) => Number(r.id));
  }

  async readRowIds(): Promise<number[]> {
    const rows = await this.query<{ id: string }>('select id from items order by id');
    return rows.map((r) => Number(r.id));
  }

  /** PID of this standby's WAL receiver (null when it has none). */
  async walReceiverPid(): Promise<number | null> {
    const rows = await this.query<{ pid: number }>('select pid from pg_stat_wal_receiver');
    return rows[0]?.pid ?? null;
  }

  /** Waits until this standby has replayed `lsn`. */
  async waitForReplay(lsn: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: Error | undefined;
    while (Date.now() < deadline) {
      try {
        const rows = await this.query<{ ok: boolean }>('select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok', [lsn]);
        if (rows[0]?.ok) return;
      } catch (error) {
        // A failover service fencing this member as it comes back ends its sessions: ask again.
        lastError = error as Error;
      }
      await sleep(20);
    }
    throw new Error(`${this.name} did not replay ${lsn} within ${timeoutMs} ms${lastError ? ` (last error: ${lastError.message})` : ''}`);
  }

  async currentLsn(): Promise<string> {
    return (await this.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn'))[0]!.lsn;
  }
}

export interface PgClusterOptions {
  /** Standbys to create from the primary (default 1). */
  standbys?: number;
  /** Member names, primary first (default pg-a, pg-b, pg-c, …). */
  names?: string[];
  /** An empty or new folder to keep the cluster in (PostgreSQL's OS user must be able to reach it); default a temporary one, deleted by `remove()`. */
  root?: string;
}

export class PgCluster {
  readonly nodes: PgNode[] = [];
  private removed = false;

  private constructor(
    readonly root: string,
    /** A kept cluster is stopped, never deleted, by `stop()` and at process exit. */
    readonly kept = false,
  ) {
    live.add(this);
  }

  get primary(): PgNode {
    return this.nodes[0]!;
  }

  get standbys(): PgNode[] {
    return this.nodes.slice(1);
  }

  node(name: string): PgNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name} (have ${this.nodes.map((n) => n.name).join(', ')})`);
    return node;
  }

  /** Creates the primary, then each standby with `pg_basebackup -R -X stream`, all started and streaming. */
  static async create(options: PgClusterOptions = {}): Promise<PgCluster> {
    const root = options.root ?? mkdtempSync(join(tmpdir(), 'continuity-pg-'));
    mkdirSync(root, { recursive: true });
    giveToPgUser(root);
    const cluster = new PgCluster(root, options.root !== undefined);
    try {
      const count = 1 + (options.standbys ?? 1);
      const names = options.names ?? Array.from({ length: count }, (_, i) => `pg-${String.fromCharCode(97 + i)}`);
      const primary = await cluster.initPrimary(names[0]!);
      for (let i = 1; i < count; i++) await cluster.addStandby(names[i]!, primary);
      // Every standby streaming before the test starts.
      const lsn = await primary.currentLsn();
      for (const standby of cluster.standbys) await standby.waitForReplay(lsn);
      if (cluster.kept) writeFileSync(join(root, LAYOUT_FILE), JSON.stringify({ nodes: cluster.nodes.map((n) => ({ name: n.name, port: n.port })) }, null, 2) + '\n');
      return cluster;
    } catch (error) {
      if (cluster.kept) {
        // A half-made kept cluster is stopped and its members' folders removed: the next start begins afresh.
        cluster.stopSync();
        for (const node of cluster.nodes) rmSync(node.dataDir, { recursive: true, force: true });
      } else cluster.removeSync();
      throw error;
    }
  }

  /** Whether `root` holds a cluster `create({ root })` finished (its layout was recorded). */
  static existsIn(root: string): boolean {
    return existsSync(join(root, LAYOUT_FILE));
  }

  /**
   * Starts a kept cluster again, every member on the port it had (a member still running is left
   * as it is). Members that are standbys stay standbys: their `standby.signal` is in their folder.
   */
  static async reopen(root: string): Promise<PgCluster> {
    const layout = JSON.parse(readFileSync(join(root, LAYOUT_FILE), 'utf8')) as { nodes: { name: string; port: number }[] };
    const cluster = new PgCluster(root, true);
    for (const { name, port } of layout.nodes) cluster.nodes.push(new PgNode(name, port, join(root, name), join(root, `${name}.log`)));
    try {
      for (const node of cluster.nodes) if (node.pid() === null) await node.start();
      return cluster;
    } catch (error) {
      cluster.stopSync();
      throw error;
    }
  }

  /** Stops every postmaster (fast shutdown) and keeps the folder. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop('fast').catch(() => undefined)));
    live.delete(this);
  }

  private stopSync(): void {
    for (const node of this.nodes) {
      try {
        node.stopSync();
      } catch {
        /* keep going */
      }
    }
    live.delete(this);
  }

  private async initPrimary(name: string): Promise<PgNode> {
    const dataDir = join(this.root, name);
    await runAsync('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--no-instructions'], `initdb ${name}`);
    const port = await freeTcpPort();
    appendFileSync(
      join(dataDir, 'postgresql.conf'),
      [
        '',
        '# continuity test cluster',
        `port = ${port}`,
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${this.root}'`,
        'shared_buffers = 16MB',
        'max_connections = 40',
        'fsync = off',
        'full_page_writes = off',
        'autovacuum = off',
        'wal_level = replica',
        'max_wal_senders = 10',
        'wal_keep_size = 256MB',
        'hot_standby = on',
        'wal_log_hints = on',
        'wal_receiver_status_interval = 1s',
        "wal_retrieve_retry_interval = '200ms'",
        'logging_collector = off',
        '',
      ].join('\n'),
    );
    appendFileSync(join(dataDir, 'pg_hba.conf'), '\nhost replication all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 trust\n');
    const node = new PgNode(name, port, dataDir, join(this.root, `${name}.log`));
    this.nodes.push(node);
    await node.start();
    return node;
  }

  /** A new standby of `from` (pg_basebackup -R), started and streaming. */
  async addStandby(name: string, from: PgNode): Promise<PgNode> {
    const dataDir = join(this.root, name);
    const port = await freeTcpPort();
    const node = new PgNode(name, port, dataDir, join(this.root, `${name}.log`));
    this.nodes.push(node);
    await this.basebackup(node, from);
    return node;
  }

  /**
   * Makes `node` (a fenced former primary, stopped or not) a fresh standby of `from`: stop, delete
   * its data, `pg_basebackup` from `from`, start (same name and port).
   */
  async rebuild(node: PgNode, from: PgNode): Promise<void> {
    await node.stop('immediate');
    rmSync(node.dataDir, { recursive: true, force: true });
    await this.basebackup(node, from);
    await node.waitForReplay(await from.currentLsn());
  }

  private async basebackup(node: PgNode, from: PgNode): Promise<void> {
    await runAsync('pg_basebackup', ['-h', '127.0.0.1', '-p', String(from.port), '-U', 'postgres', '-D', node.dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync'], `pg_basebackup ${node.name}`);
    appendFileSync(join(node.dataDir, 'postgresql.conf'), `\nport = ${node.port}\n`);
    // A copy of a fenced primary carries its ALTER SYSTEM settings: a standby starts writable-by-default.
    appendFileSync(join(node.dataDir, 'postgresql.auto.conf'), `\ndefault_transaction_read_only = off\nprimary_conninfo = 'host=127.0.0.1 port=${from.port} user=postgres application_name=${node.name}'\n`);
    await node.start();
  }

  /** Stops every postmaster and deletes the folder. Safe to call twice. */
  async remove(): Promise<void> {
    if (this.kept) return this.stop();
    if (this.removed) return;
    await Promise.all(this.nodes.map((node) => node.stop('immediate').catch(() => undefined)));
    this.removeSync();
  }

  removeSync(): void {
    if (this.kept) return this.stopSync();
    if (this.removed) return;
    this.removed = true;
    live.delete(this);
    for (const node of this.nodes) {
      try {
        node.stopSync();
      } catch {
        /* keep going: the folder goes anyway */
      }
    }
    try {
      rmSync(this.root, { recursive: true, force: true });
    } catch {
      /* nothing more to do */
    }
  }
}

const uid = (user: string) => Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
const gid = (user: string) => Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());

export const createPgCluster = (options?: PgClusterOptions) => PgCluster.create(options);
