import type { NatsConnection } from '@nats-io/transport-node';
import type { Topology } from '@continuity/contracts';
import { createTestTopology, TEST_NATS_URL } from '@continuity/messaging/testing';
import { createServiceApp } from '@continuity/runtime';
import { createTestDatabase, freePort } from '@continuity/runtime/testing';
import { AuditModule } from '@continuity/audit/audit.module.js';
import { auditEnvSchema } from '@continuity/audit/config/audit.config.js';

/**
 * The audit service in this process, on a database and topology of its own (or on `existing`, a
 * topology the caller made and filled); `stop()` removes both. On `database`, a database the
 * caller made (and drops), `stop()` leaves the database and the topology in place.
 */
export const startBenchAudit = async (
  nc: NatsConnection,
  prefix: string,
  env: Record<string, string> = {},
  existing?: Topology & { remove(): Promise<void> },
  database?: { url: string },
) => {
  const topology = existing ?? (await createTestTopology(nc, prefix));
  const db = database ? { url: database.url, drop: async () => undefined } : await createTestDatabase('bench');
  const port = await freePort();
  const { app } = await createServiceApp({
    name: 'audit',
    defaultPort: 3004,
    module: AuditModule,
    envSchema: auditEnvSchema,
    env: {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: db.url,
      CONTINUITY_NAMESPACE: topology.namespace,
      PORT: String(port),
      LOG_LEVEL: 'error',
      AUDIT_SIGNING_KEY_FILE: `/tmp/continuity-bench-${topology.namespace}.pem`,
      ...env,
    },
  });
  return {
    app,
    topology,
    base: `http://127.0.0.1:${port}`,
    stop: async () => {
      await app.close();
      if (database) return;
      await topology.remove();
      await db.drop();
    },
  };
};
