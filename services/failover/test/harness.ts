import { INestApplication } from '@nestjs/common';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ContinuityEvent, EventType } from '@continuity/contracts';
import { createServiceApp } from '@continuity/runtime';
import { bearer, freePort, TEST_CONTINUITY_TOKENS } from '@continuity/runtime/testing';
import { readStream, TEST_NATS_URL } from '@continuity/messaging/testing';
import { FailoverModule } from '../src/failover.module.js';
import { failoverEnvSchema } from '../src/failover.env.js';
import type { PgCluster } from './pg-cluster.js';
import { FailoverStore } from '../src/coordination/failover-store.js';

export interface ResourceOptions {
  resource?: string;
  maxLagBytes?: number;
  mode?: 'automatic' | 'manual';
  probeIntervalMs?: number;
  failuresBeforeFailover?: number;
  switchoverTimeoutMs?: number;
  synchronous?: boolean;
  relaxSynchronousAfterMs?: number;
  /** A member's `fence:` setting, by member name. */
  fence?: Record<string, { command: string[]; timeoutMs?: number; required?: boolean }>;
}

/** The YAML configuration for one resource made of the cluster's nodes (first node primary). */
export const configYaml = (cluster: PgCluster, options: ResourceOptions & { leaseTtlMs?: number } = {}) => {
  const resource = options.resource ?? 'orders-db';
  const members = cluster.nodes
    .map((n, i) => {
      const fence = options.fence?.[n.name];
      // JSON is YAML: the fence setting goes in as it is.
      return `        - { name: ${n.name}, connection: "${n.url}", role: ${i === 0 ? 'primary' : 'standby'}${fence ? `, fence: ${JSON.stringify(fence)}` : ''} }`;
    })
    .join('\n');
  return [
    'failover:',
    `  leaseTtlMs: ${options.leaseTtlMs ?? 2000}`,
    '  resources:',
    `    ${resource}:`,
    `      maxLagBytes: ${options.maxLagBytes ?? 16 * 1024 * 1024}`,
    `      mode: ${options.mode ?? 'automatic'}`,
    `      probeIntervalMs: ${options.probeIntervalMs ?? 500}`,
    `      failuresBeforeFailover: ${options.failuresBeforeFailover ?? 3}`,
    `      switchoverTimeoutMs: ${options.switchoverTimeoutMs ?? 15000}`,
    ...(options.synchronous ? ['      synchronous: true'] : []),
    ...(options.relaxSynchronousAfterMs !== undefined ? [`      relaxSynchronousAfterMs: ${options.relaxSynchronousAfterMs}`] : []),
    '      members:',
    members,
    '',
  ].join('\n');
};

/** Writes the configuration to a temporary file; `remove()` deletes it. */
export const writeConfig = (yaml: string) => {
  const dir = mkdtempSync(join(tmpdir(), 'continuity-failover-config-'));
  const file = join(dir, 'continuity.yaml');
  writeFileSync(file, yaml);
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
};

/** The failover service in-process on its own topology. */
export const startFailover = async (namespace: string, configFile: string | null, env: Record<string, string> = {}) => {
  const port = await freePort();
  const { app } = await createServiceApp({
    name: 'failover',
    defaultPort: port,
    module: FailoverModule,
    envSchema: failoverEnvSchema,
    env: {
      NATS_URL: TEST_NATS_URL,
      CONTINUITY_NAMESPACE: namespace,
      PORT: String(port),
      LOG_LEVEL: process.env.FAILOVER_TEST_LOG ?? 'error',
      CONTINUITY_TOKENS: TEST_CONTINUITY_TOKENS,
      ...(configFile ? { CONTINUITY_CONFIG: configFile } : {}),
      ...env,
    },
  });
  return { app: app as INestApplication, ...httpClient(`http://127.0.0.1:${port}`) };
};

export const httpClient = (base: string) => ({
  base,
  get: async (path: string) => {
    const res = await fetch(base + path, { headers: bearer('operator') });
    return { status: res.status, body: (await res.json().catch(() => null)) as any };
  },
  post: async (path: string, body?: unknown) => {
    const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer('operator') }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json().catch(() => null)) as any };
  },
});

/** Events of `type` stored in the topology's event stream, oldest first. */
export const eventsOf = async <T extends EventType>(nc: NatsConnection, stream: string, type: T): Promise<ContinuityEvent<T>[]> =>
  (await readStream(nc, stream)).map((m) => m.json<ContinuityEvent>()).filter((e) => e.type === type) as ContinuityEvent<T>[];

/**
 * Removes what a failover test made, in order, whatever was made before a failure: the service
 * first (it must stop probing), then the clusters, the config file, the KV buckets and the streams.
 */
export const removeFailoverTest = async (made: {
  stopService?: () => Promise<unknown> | undefined;
  cluster?: PgCluster;
  config?: { remove(): void };
  nc?: NatsConnection;
  topology?: { namespace: string; remove(): Promise<void> };
}) => {
  await made.stopService?.();
  await made.cluster?.remove();
  made.config?.remove();
  if (made.nc && made.topology) await FailoverStore.remove(made.nc, made.topology.namespace);
  await made.topology?.remove();
  await made.nc?.close();
};
