import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { freePort } from './free-port.js';
import type { NatsAuthOptions } from './nats-connect.js';

/**
 * Real `nats-server` processes for tests and benchmarks: one server, or a JetStream cluster of
 * three (or five) on free loopback ports, each with its own store folder under one temporary
 * folder. Nodes can be killed (`kill9`) and started again with their data, as a crashed and
 * restarted server would be. `remove()` kills every process and deletes the folder; a process-exit
 * hook does the same for what a crashed test left behind. Never the machine's shared NATS.
 */

/** `NATS_SERVER_BIN`, else `nats-server` on PATH or in the sbin folders Debian installs it in. */
export const natsServerBinary = (): string => {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`NATS_SERVER_BIN=${fromEnv} does not exist`);
    return fromEnv;
  }
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin'];
  const found = dirs.filter(Boolean).map((dir) => join(dir, 'nats-server')).find((path) => existsSync(path));
  if (!found) throw new Error('nats-server is not installed (Debian: apt-get install nats-server); or set NATS_SERVER_BIN to its path');
  return found;
};

const live = new Set<NatsCluster>();
process.once('exit', () => {
  for (const cluster of live) cluster.removeSync();
});

export class NatsNode {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    /** `server_name`: what JetStream reports as a stream's leader or replica. */
    readonly name: string,
    readonly port: number,
    private readonly configFile: string,
    private readonly logFile: string,
  ) {}

  get url() {
    return `nats://127.0.0.1:${this.port}`;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Starts the server (again, with the data it had) and waits until it accepts clients. */
  async start(): Promise<void> {
    if (this.child) return;
    const child = spawn(natsServerBinary(), ['-c', this.configFile], { stdio: 'ignore' });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      if (this.child === child) this.child = null;
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (!this.child) throw new Error(`nats-server ${this.name} exited while starting:\n${this.log().slice(-2000)}`);
      try {
        const nc = await connect({ servers: this.url, timeout: 500, reconnect: false });
        await nc.close();
        return;
      } catch (error) {
        // A server requiring credentials answers, and refuses us: it is up.
        if (/authorization/i.test(String((error as Error)?.message))) return;
        if (Date.now() > deadline) throw new Error(`nats-server ${this.name} did not accept clients on ${this.url} within 15 s:\n${this.log().slice(-2000)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  /** SIGKILL: no goodbye to clients or peers, as a crashed machine. Resolves once it is gone. */
  async kill9(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await this.exited;
    this.child = null;
  }

  /** SIGTERM (lame-duck-free shutdown): clients see the connection close. */
  async stop(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGTERM');
    await this.exited;
    this.child = null;
  }

  killSync(): void {
    this.child?.kill('SIGKILL');
  }
}

export interface NatsClusterOptions {
  /** 1: a single server (no cluster block); 3 or 5: a JetStream cluster. */
  size?: number;
  /** More server configuration for every node, e.g. an `authorization` block (`npm run nats:auth`). */
  extraConfig?: string;
  /** How the harness itself connects (waiting for JetStream, `connect()`): the admin's credentials when `extraConfig` requires them. */
  auth?: NatsAuthOptions;
}

export class NatsCluster {
  private removed = false;

  private constructor(
    readonly nodes: NatsNode[],
    readonly dir: string,
    private readonly auth: NatsAuthOptions = {},
  ) {}

  /** Every node's client URL, comma-separated: what `NATS_URL` would be. */
  get urls(): string {
    return this.nodes.map((node) => node.url).join(',');
  }

  node(name: string): NatsNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name} in this cluster (${this.nodes.map((n) => n.name).join(', ')})`);
    return node;
  }

  static async start(options: NatsClusterOptions = {}): Promise<NatsCluster> {
    const size = options.size ?? 3;
    const dir = mkdtempSync(join(tmpdir(), 'continuity-nats-'));
    const clusterName = `c_${dir.slice(-6).replace(/[^A-Za-z0-9]/g, '')}`;
    const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), route: await freePort() })));
    const nodes = ports.map(({ client, route }, i) => {
      const name = `n${i + 1}`;
      const nodeDir = join(dir, name);
      mkdirSync(nodeDir);
      const routes = ports.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p.route}`);
      // A config file rather than flags: NATS 2.9 needs server_name per node for JetStream in a cluster.
      const config = [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${client}`,
        `jetstream { store_dir: ${JSON.stringify(join(nodeDir, 'store'))} }`,
        ...(size > 1 ? [`cluster { name: ${clusterName}, listen: 127.0.0.1:${route}, routes: [${routes.map((r) => JSON.stringify(r)).join(', ')}] }`] : []),
        `logfile: ${JSON.stringify(join(nodeDir, 'server.log'))}`,
        ...(options.extraConfig ? [options.extraConfig] : []),
      ].join('\n');
      writeFileSync(join(nodeDir, 'server.conf'), config);
      return new NatsNode(name, client, join(nodeDir, 'server.conf'), join(nodeDir, 'server.log'));
    });
    const cluster = new NatsCluster(nodes, dir, options.auth ?? {});
    live.add(cluster);
    try {
      await Promise.all(nodes.map((node) => node.start()));
      await cluster.waitForJetStream();
      return cluster;
    } catch (error) {
      await cluster.remove();
      throw error;
    }
  }

  /** A client of the whole cluster: it reconnects to another node when one goes away. */
  connect(name = 'test', auth: NatsAuthOptions = this.auth): Promise<NatsConnection> {
    return connect({ servers: this.nodes.map((n) => n.url), name, maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 3_000, noAsyncTraces: true, ...auth });
  }

  /** Waits until JetStream answers API requests: in a cluster, once a meta leader is elected. */
  async waitForJetStream(timeoutMs = 30_000): Promise<void> {
    const nc = await this.connect('harness');
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    try {
      // Not checking the API here: that first request is what the loop retries.
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      while (Date.now() < deadline) {
        try {
          await jsm.getAccountInfo();
          return;
        } catch (error) {
          lastError = error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      throw new Error(`JetStream had no meta leader within ${timeoutMs} ms (${(lastError as Error)?.message}):\n${this.nodes.map((n) => `${n.name}: ${n.log().slice(-800)}`).join('\n')}`);
    } finally {
      await nc.close();
    }
  }

  /** The `server_name` of the node leading `stream` (its writes go through it), if one is elected. */
  async streamLeader(nc: NatsConnection, stream: string): Promise<string | undefined> {
    return (await (await jetstreamManager(nc)).streams.info(stream)).cluster?.leader;
  }

  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    await Promise.all(this.nodes.map((node) => node.kill9()));
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /** `remove` for the process-exit hook, where nothing asynchronous runs any more. */
  removeSync(): void {
    for (const node of this.nodes) node.killSync();
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }
}

/** Starts a JetStream cluster of `size` (default 3) nodes, or a single server with `size: 1`. */
export const startNatsCluster = (options: NatsClusterOptions = {}) => NatsCluster.start(options);
