import { FailoverConfigError, parseFailoverConfig, redactConnection } from './failover-config.loader.js';

const FILE = '/etc/continuity/continuity.yaml';

const valid = `
resources:            # the backup service's section: not ours, not checked here
  orders-db: { kind: postgres, site: eu-west-1a, connection: postgres://postgres@127.0.0.1:5432/orders }
failover:
  leaseTtlMs: 2000
  resources:
    orders-db:
      maxLagBytes: 16777216
      members:
        - { name: pg-a, connection: "postgres://postgres:secret@10.0.0.5:5432/postgres", role: primary }
        - { name: pg-b, connection: "postgres://postgres@10.0.0.6:5432/postgres", role: standby }
    billing-db:
      mode: manual
      maxLagBytes: 0
      probeIntervalMs: 250
      failuresBeforeFailover: 5
      members:
        - { name: b1, connection: "postgres://postgres@10.0.1.5:5432/postgres", role: primary }
        - { name: b2, connection: "postgres://postgres@10.0.1.6:5432/postgres", role: standby, replicationConnection: "host=10.0.1.6 user=replicator" }
`;

const problemsOf = (text: string) => {
  try {
    parseFailoverConfig(FILE, text);
  } catch (error) {
    if (error instanceof FailoverConfigError) return error.problems.map((p) => `${p.key}${p.line ? ` (line ${p.line})` : ''}: ${p.message}`);
    throw error;
  }
  throw new Error('expected the configuration to be rejected');
};

/** A failover section with one resource, orders-db (maxLagBytes 0), and these member lines. */
const ordersDb = (...members: string[]) => `\n${['failover:', '  resources:', '    orders-db:', '      maxLagBytes: 0', '      members:', ...members].join('\n')}\n`;

describe('failover configuration', () => {
  it('reads the failover section with its defaults, ignoring the other services’ sections', () => {
    const settings = parseFailoverConfig(FILE, valid);
    expect(settings.leaseTtlMs).toBe(2000);
    const [orders, billing] = settings.resources;
    expect(orders).toMatchObject({
      resource: 'orders-db',
      probeTimeoutMs: 400,
      promoteTimeoutMs: 10_000,
      switchoverTimeoutMs: 30_000,
      decider: { resource: 'orders-db', probeIntervalMs: 500, failuresBeforeFailover: 3, staleAfterMs: 1500, maxLagBytes: 16777216, mode: 'automatic' },
    });
    expect(orders!.members.map((m) => [m.name, m.role])).toEqual([
      ['pg-a', 'primary'],
      ['pg-b', 'standby'],
    ]);
    expect(billing).toMatchObject({ probeTimeoutMs: 200, decider: { mode: 'manual', maxLagBytes: 0, probeIntervalMs: 250, failuresBeforeFailover: 5 } });
    expect(billing!.members[1]!.replicationConnection).toBe('host=10.0.1.6 user=replicator');
  });

  it('watches nothing when the file has no failover section', () => {
    expect(parseFailoverConfig(FILE, 'resources: {}\n')).toEqual({ file: FILE, leaseTtlMs: 3000, resources: [] });
    expect(parseFailoverConfig(FILE, 'failover:\n  resources: {}\n').resources).toEqual([]);
  });

  it('names every bad key, with its line', () => {
    const problems = problemsOf(`
failover:
  leaseTtl: 1000
  resources:
    orders-db:
      maxLagBytes: -1
      mode: sometimes
      probeIntervalMs: 0
      members:
        - { name: pg-a, connection: "mysql://x", role: primary }
        - { name: pg-b, connection: "postgres://h:5433/postgres", role: leader, port: 5 }
    "bad name!":
      maxLagBytes: 1
      members: []
`);
    expect(problems).toEqual(
      expect.arrayContaining([
        'failover.leaseTtl (line 3): unknown key (allowed here: leaseTtlMs, resources)',
        expect.stringMatching(/^failover\.resources\.orders-db\.maxLagBytes \(line 6\): must be 0 or more/),
        expect.stringMatching(/^failover\.resources\.orders-db\.mode \(line 7\): must be "automatic" or "manual"/),
        expect.stringMatching(/^failover\.resources\.orders-db\.probeIntervalMs \(line 8\): probeIntervalMs must be at least 1 ms/),
        expect.stringMatching(/^failover\.resources\.orders-db\.members\.0\.connection \(line 10\): must be a postgres:\/\/ URL/),
        expect.stringMatching(/^failover\.resources\.orders-db\.members\.1\.role \(line 11\): must be "primary" or "standby"/),
        expect.stringMatching(/^failover\.resources\.orders-db\.members\.1\.port \(line 11\): unknown key \(allowed here: name, connection, role, replicationConnection, fence\)/),
        expect.stringMatching(/^failover\.resources\.bad name!.*resource names must be/),
      ]),
    );
  });

  it('reports the decider’s checks under the resource’s members key', () => {
    expect(
      problemsOf(
        ordersDb(
          '        - { name: pg-a, connection: "postgres://postgres@h1:5432/postgres", role: standby }',
          '        - { name: pg-a, connection: "postgres://postgres@h2:5432/postgres", role: standby }',
        ),
      ),
    ).toEqual([
      'failover.resources.orders-db.members (line 7): duplicate member names: pg-a',
      "failover.resources.orders-db.members (line 7): exactly one member must have role 'primary' (found 0)",
    ]);
  });

  it('rejects two members at the same host and port, and a probe timeout longer than the interval', () => {
    expect(
      problemsOf(`
failover:
  resources:
    orders-db:
      maxLagBytes: 0
      probeTimeoutMs: 900
      members:
        - { name: pg-a, connection: "postgres://postgres@h1:5432/postgres", role: primary }
        - { name: pg-b, connection: "postgres://other@h1:5432/postgres", role: standby }
`),
    ).toEqual([
      'failover.resources.orders-db.probeTimeoutMs (line 6): must not exceed probeIntervalMs (500): probes of one round must end before the next',
      'failover.resources.orders-db.members.1.connection (line 9): same host and port as pg-a',
    ]);
  });

  it('reads a member\'s fence command with its defaults, and names what is wrong with one', () => {
    const settings = parseFailoverConfig(
      FILE,
      ordersDb(
        '        - { name: pg-a, connection: "postgres://postgres@h1:5432/postgres", role: primary, fence: { command: ["/usr/local/bin/stonith", "--node", "db-a"], timeoutMs: 5000, required: true } }',
        '        - { name: pg-b, connection: "postgres://postgres@h2:5432/postgres", role: standby, fence: { command: ["/usr/local/bin/stonith", "--node", "db-b"] } }',
      ),
    );
    expect(settings.resources[0]!.members.map((m) => m.fence)).toEqual([
      { command: ['/usr/local/bin/stonith', '--node', 'db-a'], timeoutMs: 5000, required: true },
      { command: ['/usr/local/bin/stonith', '--node', 'db-b'], timeoutMs: 30_000, required: false },
    ]);
    expect(parseFailoverConfig(FILE, valid).resources[0]!.members[0]!.fence).toBeNull();
    expect(
      problemsOf(
        ordersDb(
          '        - { name: pg-a, connection: "postgres://postgres@h1:5432/postgres", role: primary, fence: { command: "stonith --node db-a; rm -rf /" } }',
          '        - { name: pg-b, connection: "postgres://postgres@h2:5432/postgres", role: standby, fence: { command: ["stonith"], required: yes, timeout: 5 } }',
        ),
      ),
    ).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^failover\.resources\.orders-db\.members\.0\.fence\.command \(line 7\): must be an argv array/),
        expect.stringMatching(/^failover\.resources\.orders-db\.members\.1\.fence\.command \(line 8\): the program \(first element\) must be an absolute path/),
        expect.stringMatching(/^failover\.resources\.orders-db\.members\.1\.fence\.required \(line 8\): must be true or false/),
        'failover.resources.orders-db.members.1.fence.timeout (line 8): unknown key (allowed here: command, timeoutMs, required)',
      ]),
    );
  });

  it('reads synchronous mode with its relax delay (default: the failover threshold × the probe interval), and checks it', () => {
    const members = ['      members:', '        - { name: pg-a, connection: "postgres://postgres@h1:5432/postgres", role: primary }', '        - { name: pg-b, connection: "postgres://postgres@h2:5432/postgres", role: standby }'];
    const section = (...lines: string[]) => `\n${['failover:', '  resources:', '    orders-db:', '      maxLagBytes: 0', ...lines, ...members].join('\n')}\n`;
    expect(parseFailoverConfig(FILE, section()).resources[0]!.decider).toMatchObject({ synchronous: false, relaxSynchronousAfterMs: 1500 });
    expect(parseFailoverConfig(FILE, section('      synchronous: true', '      relaxSynchronousAfterMs: 4000')).resources[0]!.decider).toMatchObject({ synchronous: true, relaxSynchronousAfterMs: 4000 });
    expect(problemsOf(section('      synchronous: "yes"', '      relaxSynchronousAfterMs: -1'))).toEqual([
      'failover.resources.orders-db.synchronous (line 6): must be true or false',
      'failover.resources.orders-db.relaxSynchronousAfterMs (line 7): must be 0 or more',
    ]);
    const long = 'x'.repeat(64);
    expect(
      problemsOf(ordersDb('      synchronous: true', `        - { name: pg-a, connection: "postgres://postgres@h1:5432/postgres", role: primary }`, `        - { name: ${long}, connection: "postgres://postgres@h2:5432/postgres", role: standby }`).replace('      members:\n      synchronous: true', '      synchronous: true\n      members:')),
    ).toEqual([`failover.resources.orders-db.members (line 8): synchronous: member names are the standbys' application_name, at most 63 characters (too long: ${long})`]);
  });

  it('reports YAML syntax errors with their line', () => {
    expect(problemsOf('failover:\n  resources: {\n')[0]).toMatch(/^\(yaml\) \(line \d\): /);
  });

  it('redacts passwords and options from connection strings', () => {
    expect(redactConnection('postgres://postgres:secret@10.0.0.5:5432/postgres?sslmode=require')).toBe('postgres://postgres@10.0.0.5:5432/postgres');
  });
});
