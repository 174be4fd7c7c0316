import { startNatsCluster, NatsCluster } from '@continuity/messaging/testing';
import { DependencyUnreachableError } from '../src/unreachable.js';
import { waitForDependency } from '../src/startup-wait.js';
import { createPgCluster, PgCluster } from '../src/pg-cluster.js';
import { freePort, ServiceProcess, startServiceProcess, TEST_DATABASE_URL } from '../src/testing.js';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });

describe('waitForDependency', () => {
  const lines: string[] = [];
  const logger = { warn: (line: string) => lines.push(`warn ${line}`), log: (line: string) => lines.push(`log ${line}`) };
  beforeEach(() => lines.splice(0));

  it('tries again while the failure is transient, says what it waits for, and returns the connection', async () => {
    let attempts = 0;
    const result = await waitForDependency(
      {
        dependency: 'PostgreSQL',
        variable: 'DATABASE_URL',
        url: 'postgres://app:s3cret@db:5432/x',
        attempt: async () => {
          if (++attempts < 4) throw refused();
          return 'connected';
        },
        transient: () => true,
      },
      { deadline: Date.now() + 10_000, waitMs: 10_000, logger, logEveryMs: 0, retryMaxMs: 10 },
    );
    expect(result).toBe('connected');
    expect(attempts).toBe(4);
    expect(lines.filter((l) => l.startsWith('warn'))).toHaveLength(3);
    expect(lines[0]).toMatch(/^warn waiting for PostgreSQL at DATABASE_URL=postgres:\/\/app:\*\*\*@db:5432\/x \(.* so far, giving up after 10 s: STARTUP_WAIT_MS\): connect ECONNREFUSED .*start it with/);
    expect(lines.join('\n')).not.toContain('s3cret');
    expect(lines.at(-1)).toMatch(/^log PostgreSQL at DATABASE_URL=postgres:\/\/app:\*\*\*@db:5432\/x answered after/);
  });

  it('gives up at the deadline, naming the variable and how long it waited', async () => {
    const waiting = waitForDependency(
      { dependency: 'NATS', variable: 'NATS_URL', url: 'nats://127.0.0.1:1', attempt: async () => Promise.reject(refused()), transient: () => true },
      { deadline: Date.now() + 300, waitMs: 300, logger, retryMaxMs: 20 },
    );
    await expect(waiting).rejects.toThrow(DependencyUnreachableError);
    await expect(waiting).rejects.toThrow(/NATS is not reachable at NATS_URL=nats:\/\/127\.0\.0\.1:1: connect ECONNREFUSED .* \(waited 0\.\d s; STARTUP_WAIT_MS=300\)/);
  });

  it('does not wait for what waiting cannot fix', async () => {
    let attempts = 0;
    const started = Date.now();
    await expect(
      waitForDependency(
        { dependency: 'PostgreSQL', variable: 'DATABASE_URL', url: 'postgres://x@db/y', attempt: async () => Promise.reject(new Error(`password authentication failed (${++attempts})`)), transient: () => false },
        { deadline: Date.now() + 60_000, waitMs: 60_000, logger },
      ),
    ).rejects.toThrow('PostgreSQL is not reachable at DATABASE_URL=postgres://x@db/y: password authentication failed (1)');
    expect(attempts).toBe(1);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(lines).toEqual([]);
  });
});

describe('a service process started while NATS and PostgreSQL are down (real servers)', () => {
  let nats: NatsCluster | undefined;
  let pg: PgCluster | undefined;
  let proc: ServiceProcess | undefined;

  afterEach(async () => {
    await proc?.stop('SIGKILL');
    await nats?.remove();
    await pg?.remove();
    proc = nats = pg = undefined;
  });

  it('waits for both, saying so every few seconds, and starts once they answer', async () => {
    nats = await startNatsCluster({ size: 1 });
    const server = nats.nodes[0]!;
    await server.kill9();
    pg = await createPgCluster({ standbys: 0 });
    await pg.primary.stop('fast');

    proc = await startServiceProcess('verifier', { NATS_URL: server.url, DATABASE_URL: pg.primary.url, STARTUP_WAIT_MS: '60000' });
    await proc.waitForOutput(`waiting for NATS at NATS_URL=${server.url} `);
    await proc.waitForOutput(`waiting for PostgreSQL at DATABASE_URL=${pg.primary.url} `);
    expect(proc.output()).toContain('nats-server -js');
    expect(proc.child.exitCode).toBeNull();

    await server.start();
    await proc.waitForOutput(`NATS at NATS_URL=${server.url} answered after`);
    // Still waiting for PostgreSQL: not listening yet.
    expect(proc.output()).not.toContain('verifier listening on');
    await pg.primary.start();
    await proc.waitForOutput(`verifier listening on http://127.0.0.1:${proc.port}`);
    expect((await fetch(`http://127.0.0.1:${proc.port}/health/ready`)).status).toBe(200);
  }, 120_000);

  it('gives up after STARTUP_WAIT_MS and exits 1, saying how long it waited', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    proc = await startServiceProcess('verifier', { NATS_URL: url, DATABASE_URL: TEST_DATABASE_URL, STARTUP_WAIT_MS: '1500' });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain(`waiting for NATS at NATS_URL=${url} `);
    expect(proc.output()).toMatch(new RegExp(`NATS is not reachable at NATS_URL=${url}: .*\\(waited \\d\\.\\d s; STARTUP_WAIT_MS=1500\\)`));
  }, 90_000);

  it('does not wait for a database that does not exist', async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = '/no_such_database_test';
    proc = await startServiceProcess('verifier', { DATABASE_URL: url.toString(), STARTUP_WAIT_MS: '60000' });
    // The verifier needs its database (it migrates at start): it stops, quickly, saying why.
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain(`PostgreSQL at DATABASE_URL=${url} answers but refuses: database "no_such_database_test" does not exist`);
    expect(proc.output()).not.toContain('waiting for PostgreSQL');
  }, 90_000);
});
