import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { Client } from 'pg';
import { ContinuityPublisher, EventType } from '@continuity/contracts';
import { anEvent } from '@continuity/contracts/testing';
import { connectTestNats, createTestTopology, pollUntil } from '@continuity/messaging/testing';
import { freePort } from '@continuity/messaging';
import type { Role } from './http/access-tokens.js';

export { freePort };

/** One token per role for tests (32+ characters, as the guard requires); pass `TEST_CONTINUITY_TOKENS` as CONTINUITY_TOKENS. */
export const TEST_TOKENS = {
  viewer: 'test-viewer-token-0123456789abcdef',
  operator: 'test-operator-token-0123456789abcdef',
  auditor: 'test-auditor-token-0123456789abcdef',
  admin: 'test-admin-token-0123456789abcdef',
} as const satisfies Record<Role, string>;
export const TEST_CONTINUITY_TOKENS = Object.entries(TEST_TOKENS)
  .map(([role, token]) => `${role}:${role}:${token}`)
  .join(',');
/** `Authorization` header of a test token of `role`. */
export const bearer = (role: Role) => ({ authorization: `Bearer ${TEST_TOKENS[role]}` });

export interface MutatingRoute {
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
}

/**
 * Calls each route as an anonymous caller and with a viewer's and an auditor's token, each with a
 * well-formed JSON body, and returns what was answered; a test expects only 401s and 403s and then
 * checks that nothing changed.
 */
export const callAsStrangers = async (base: string, routes: MutatingRoute[]) => {
  const answers: { route: string; as: string; status: number; code: unknown }[] = [];
  for (const { method, path, body } of routes) {
    for (const as of ['anonymous', 'viewer', 'auditor'] as const) {
      const res = await fetch(base + path, {
        method,
        headers: { 'content-type': 'application/json', ...(as === 'anonymous' ? {} : bearer(as)) },
        body: JSON.stringify(body ?? {}),
      });
      answers.push({ route: `${method} ${path}`, as, status: res.status, code: ((await res.json()) as { code?: unknown }).code });
    }
  }
  return answers;
};

/** What `callAsStrangers` must get for every route: 401 without a token, 403 for the wrong role. */
export const refusedToStrangers = (routes: MutatingRoute[]) =>
  routes.flatMap(({ method, path }) => [
    { route: `${method} ${path}`, as: 'anonymous', status: 401, code: 'AUTH.TOKEN_MISSING' },
    { route: `${method} ${path}`, as: 'viewer', status: 403, code: 'AUTH.ROLE_FORBIDDEN' },
    { route: `${method} ${path}`, as: 'auditor', status: 403, code: 'AUTH.ROLE_FORBIDDEN' },
  ]);

const repoRoot = join(__dirname, '..', '..', '..');
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database of this test run's own (name contains "test"), dropped by `drop()`. */
export const createTestDatabase = async (prefix: string) => {
  const name = `${prefix}_test_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3_000 });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${TEST_DATABASE_URL} (${(error as Error).message}). Start it with:\n` +
        '  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
    );
  }
  await admin.query(`create database "${name}"`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      if (!name.includes('_test_')) throw new Error(`refusing to drop ${name}: not a test database`);
      const client = new Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      await client.query(`drop database if exists "${name}" with (force)`);
      await client.end();
    },
  };
};

export interface ServiceProcess {
  port: number;
  child: ChildProcess;
  output(): string;
  /**
   * Waits until the process has printed `pattern` (default: up to 45 s — a service loads a thousand
   * modules, which on a busy 2-core machine, two test projects and their PostgreSQL clusters
   * sharing it, took more than 15 s); a process that exits first fails it at once.
   */
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs a service's built `dist/main.js` as its own process, as `npm start` does; `nodeArgs` go to
 * node before it (e.g. `--cpu-prof`, `--trace-gc` to profile the process).
 */
export const startServiceProcess = async (service: string, env: Record<string, string>, nodeArgs: readonly string[] = []): Promise<ServiceProcess> => {
  const main = join(repoRoot, 'services', service, 'dist', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first (\`npm test\` does)`);
  const port = Number(env.PORT ?? (await freePort()));
  const child = spawn(process.execPath, [...nodeArgs, main], {
    env: { ...process.env, NO_COLOR: '1', PORT: String(port), CONTINUITY_TOKENS: TEST_CONTINUITY_TOKENS, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (chunk) => (text += chunk));
  child.stderr!.on('data', (chunk) => (text += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    port,
    child,
    output: () => text,
    exited,
    waitForOutput: async (pattern, timeoutMs = 45_000) => {
      const printed = () => (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text));
      // A process that died will never print it: say so at once rather than at the timeout.
      const died = exited.then((code) => {
        if (!printed()) throw new Error(`${service} exited (${code ?? child.signalCode}) before printing ${pattern}`);
      });
      try {
        await Promise.race([pollUntil(printed, { timeoutMs, what: `${service} to print ${pattern}` }), died]);
      } catch (error) {
        throw new Error(`${(error as Error).message}; it printed:\n${text}`);
      }
    },
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
};

/**
 * The suite every service process passes: it boots against the real NATS and PostgreSQL, reports
 * health and metrics, handles an event of a type it subscribes to, stops cleanly on SIGTERM, and
 * refuses to start with a bad NATS_URL, naming it.
 */
export const serviceProcessSuite = (service: string, handledType: EventType, extraEnv: Record<string, string> = {}) =>
  describe(`${service} service process (real NATS and PostgreSQL)`, () => {
    let nc: Awaited<ReturnType<typeof connectTestNats>>;
    let topology: Awaited<ReturnType<typeof createTestTopology>>;
    let proc: ServiceProcess;
    let db: Awaited<ReturnType<typeof createTestDatabase>>;

    beforeAll(async () => {
      nc = await connectTestNats();
      topology = await createTestTopology(nc, service.slice(0, 3));
      db = await createTestDatabase(service);
      proc = await startServiceProcess(service, { CONTINUITY_NAMESPACE: topology.namespace, DATABASE_URL: db.url, ...extraEnv });
      await proc.waitForOutput(`${service} listening on http://127.0.0.1:${proc.port}`);
    });

    afterAll(async () => {
      await proc?.stop('SIGKILL');
      await topology?.remove();
      await db?.drop();
      await nc?.close();
    });

    it('is live and ready, with NATS and PostgreSQL up', async () => {
      expect((await fetch(`http://127.0.0.1:${proc.port}/health/live`)).status).toBe(200);
      const ready = await fetch(`http://127.0.0.1:${proc.port}/health/ready`);
      expect(await ready.json()).toMatchObject({ status: 'ok', checks: { nats: { status: 'up' }, postgres: { status: 'up' } } });
      expect(ready.status).toBe(200);
    });

    it(`handles a ${handledType} event and counts it in /metrics`, async () => {
      const event = anEvent(handledType);
      await new ContinuityPublisher(jetstream(nc), { source: 'test', topology }).publishEnvelope(event);
      const metrics = await pollUntil(async () => {
        const text = await (await fetch(`http://127.0.0.1:${proc.port}/metrics`)).text();
        return /continuity_messages_handled_total\{[^}]*outcome="acked"[^}]*\} [1-9]/.test(text) ? text : null;
      }, { what: `the ${handledType} event to be acked (continuity_messages_handled_total in /metrics)` });
      expect(metrics).toContain(`consumer="${service}_`);
    });

    it('stops cleanly on SIGTERM', async () => {
      expect(await proc.stop('SIGTERM')).toBe(0);
    });

    it('exits non-zero naming NATS_URL when NATS is not there', async () => {
      // A short wait: the service waits STARTUP_WAIT_MS for NATS before it gives up.
      const bad = await startServiceProcess(service, { ...extraEnv, NATS_URL: `nats://127.0.0.1:${await freePort()}`, DATABASE_URL: TEST_DATABASE_URL, STARTUP_WAIT_MS: '500' });
      expect(await bad.exited).not.toBe(0);
      expect(bad.output()).toMatch(/NATS is not reachable at NATS_URL=nats:\/\/127\.0\.0\.1:\d+/);
    });

    it('exits non-zero naming each invalid variable', async () => {
      const bad = await startServiceProcess(service, { NATS_URL: 'localhost', PORT: 'http' });
      expect(await bad.exited).toBe(1);
      expect(bad.output()).toContain('NATS_URL: must be one or more comma-separated nats:// URLs');
      expect(bad.output()).toContain('PORT: must be a port number (got "http")');
    });
  });
export * from './pg-cluster.js';
