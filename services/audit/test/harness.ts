import { INestApplication } from '@nestjs/common';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServiceApp } from '@continuity/runtime';
import { freePort, ServiceProcess, startServiceProcess, TEST_CONTINUITY_TOKENS, TEST_TOKENS } from '@continuity/runtime/testing';
import { pollUntil, TEST_NATS_URL } from '@continuity/messaging/testing';
import { ContinuityPublisher } from '@continuity/contracts';
import { aBackupCreatedData } from '@continuity/contracts/testing';
import { runCli } from '../src/verification/cli.js';
import { AuditModule } from '../src/audit.module.js';
import { auditEnvSchema } from '../src/config/audit.config.js';
import { serveOpenApi } from '../src/api/openapi.js';
import { LOGIN_PATH } from '../src/status/status-page.html.js';

export const AUDITOR = TEST_TOKENS.auditor;
export const OPERATOR = TEST_TOKENS.operator;

/** The audit service in-process, on its own database and topology. */
export const startAudit = async (databaseUrl: string, namespace: string, env: Record<string, string> = {}) => {
  const port = await freePort();
  const { app } = await createServiceApp({
    name: 'audit',
    defaultPort: port,
    module: AuditModule,
    envSchema: auditEnvSchema,
    configure: serveOpenApi,
    formPaths: [LOGIN_PATH],
    env: {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: databaseUrl,
      CONTINUITY_NAMESPACE: namespace,
      PORT: String(port),
      LOG_LEVEL: 'error',
      AUDIT_SIGNING_KEY_FILE: join(tmpdir(), `continuity-audit-${namespace}.pem`),
      AUDIT_SIGN_INTERVAL_MS: '250',
      // The SLO and risk emitter adds events of its own to the ledger: off unless a test is about it.
      AUDIT_EVALUATE_INTERVAL_MS: '0',
      CONTINUITY_TOKENS: TEST_CONTINUITY_TOKENS,
      ...env,
    },
  });
  const base = `http://127.0.0.1:${port}`;
  const get = async (path: string, token: string | null = AUDITOR) => {
    const res = await fetch(base + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, body: (await res.json().catch(() => null)) as any };
  };
  const post = async (path: string, token: string | null = OPERATOR) => {
    const res = await fetch(base + path, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, body: (await res.json().catch(() => null)) as any };
  };
  return { app: app as INestApplication, base, get, post };
};

type Audit = Awaited<ReturnType<typeof startAudit>>;

/** Publishes `count` backups over three resources and waits for a signed head covering them all. */
export const publishBackups = async (audit: Audit, publisher: Pick<ContinuityPublisher, 'publish'>, count: number) => {
  const before = (await audit.get('/audit/tree-heads/latest')).body?.treeSize ?? 0;
  for (let i = 0; i < count; i++) await publisher.publish('BackupCreated', { resource: `db-${i % 3}`, data: aBackupCreatedData() });
  await pollUntil(async () => (await audit.get('/audit/tree-heads/latest')).body?.treeSize >= before + count, { what: `a signed head over ${before + count} entries` });
};

/** Runs the offline verifier as an auditor would, capturing what it prints. */
export const runVerify = (args: string[]) => {
  let out = '';
  let err = '';
  const code = runCli(['verify', ...args], { write: (s: string) => ((out += s), true) } as any, { write: (s: string) => ((err += s), true) } as any);
  return { code, out, err };
};

/**
 * Backup (its scheduler off: only the backups a test asks for), verifier and audit as processes
 * from dist, in that order, each started once it says it listens; pushed onto `processes` as they
 * start, so a test's afterAll stops whatever did start.
 */
export const startBackupVerifierAudit = async (
  processes: ServiceProcess[],
  env: Record<string, string>,
  auditEnv: Record<string, string>,
): Promise<void> => {
  for (const [service, extra] of [
    ['backup', { BACKUP_SCHEDULER: 'off' }],
    ['verifier', {}],
    ['audit', auditEnv],
  ] as const) {
    const proc = await startServiceProcess(service, { ...env, ...extra });
    processes.push(proc);
    await proc.waitForOutput(`${service} listening`);
  }
};
