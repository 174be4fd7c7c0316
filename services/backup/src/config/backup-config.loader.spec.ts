import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackupConfigError, parseBackupConfig } from './backup-config.loader.js';

const IDENTITY = 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX';
const dir = mkdtempSync(join(tmpdir(), 'backup-config-'));
const keyFile = join(dir, 'key.txt');
writeFileSync(keyFile, `# test key\n${IDENTITY}\n`);

const valid = `
resources:
  orders-db:
    kind: postgres
    site: eu-west-1a
    connection: postgres://postgres@127.0.0.1:5432/orders
  uploads:
    kind: directory
    site: eu-west-1a
    path: /srv/uploads
    exclude: ['cache/**']
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: /var/backups/a }
  nas: { kind: filesystem, site: eu-west-1b, medium: nas, path: /mnt/nas }
  offsite: { kind: object-store, site: eu-central-1, bucket: offsite }
policies:
  orders-nightly:
    resource: orders-db
    schedule: "0 2 * * *"
    copies: [local-disk, nas, offsite]
    retention: { keepLast: 7, daily: 7, weekly: 4, monthly: 6 }
    encryption: { keyFile: ${keyFile} }
  uploads-hourly:
    resource: uploads
    schedule: every 1h
    copies: [local-disk, nas]
    threeTwoOne: { optOut: "scratch data, re-creatable" }
`;

const problemsOf = async (text: string) => {
  try {
    await parseBackupConfig('/etc/continuity/backup.yaml', text);
  } catch (error) {
    if (error instanceof BackupConfigError) return error.problems.map((p) => `${p.key}: ${p.message}`);
    throw error;
  }
  throw new Error('expected the configuration to be rejected');
};

describe('backup configuration', () => {
  it('loads a valid file, resolving policies, schedules, keys and 3-2-1 opt-outs', async () => {
    const config = await parseBackupConfig('/etc/continuity/backup.yaml', valid);
    const orders = config.policies.get('orders-nightly')!;
    expect(orders.copies.map((c) => c.name)).toEqual(['local-disk', 'nas', 'offsite']);
    expect(orders.schedule).toEqual({ kind: 'cron', expression: '0 2 * * *' });
    expect(orders.encryption?.identities).toEqual([IDENTITY]);
    expect(orders.encryption?.recipients[0]).toMatch(/^age1/);
    expect(orders.threeTwoOneFailures).toEqual([]);
    const uploads = config.policies.get('uploads-hourly')!;
    expect(uploads.threeTwoOneOptOut).toBe('scratch data, re-creatable');
    expect(uploads.threeTwoOneFailures.map((f) => f.rule)).toEqual(['three-copies']);
    expect(config.resources.get('uploads')).toMatchObject({ include: ['**'], exclude: ['cache/**'] });
    expect(config.locations.get('offsite')).toMatchObject({ medium: 'object' });
  });

  it('rejects a policy that cannot meet 3-2-1, saying which rules fail and how to opt out', async () => {
    const text = valid.replace('copies: [local-disk, nas, offsite]', 'copies: [local-disk, nas]');
    expect(await problemsOf(text)).toEqual([
      'policies.orders-nightly.copies: does not meet 3-2-1: three-copies: needs at least 3 copies, has 2 (local-disk, nas). Add locations, or opt out with threeTwoOne: { optOut: "<why>" }',
    ]);
  });

  it('names the key of every problem, with its line', async () => {
    const text = valid
      .replace('copies: [local-disk, nas, offsite]', 'copies: [local-disk, nass, offsite]')
      .replace('schedule: every 1h', 'schedule: nightly')
      .replace('keepLast: 7', 'keepLast: -1')
      .replace('kind: postgres', 'kind: mysql');
    const problems = await problemsOf(text);
    expect(problems).toEqual(
      expect.arrayContaining([
        'resources.orders-db.kind: kind must be "postgres" or "directory"',
        expect.stringMatching(/^policies\.uploads-hourly\.schedule: "nightly" is neither a cron expression/),
        'policies.orders-nightly.retention.keepLast: must be 0 or more',
      ]),
    );
    const again = await problemsOf(valid.replace('copies: [local-disk, nas, offsite]', 'copies: [local-disk, nass, offsite]'));
    expect(again).toEqual(['policies.orders-nightly.copies.1: unknown location "nass" (known: local-disk, nas, offsite)']);
    try {
      await parseBackupConfig('/etc/continuity/backup.yaml', valid.replace('copies: [local-disk, nas, offsite]', 'copies: [local-disk, nass, offsite]'));
    } catch (error) {
      expect((error as Error).message).toBe(
        '/etc/continuity/backup.yaml is invalid:\n  policies.orders-nightly.copies.1 (line 20): unknown location "nass" (known: local-disk, nas, offsite)',
      );
    }
  });

  it('rejects unknown keys (a typo must not mean "keep everything")', async () => {
    expect(await problemsOf(valid.replace('retention:', 'retension:'))).toEqual([
      'policies.orders-nightly.retension: unknown key (allowed here: resource, method, schedule, copies, retention, encryption, wal, threeTwoOne)',
    ]);
  });

  it('leaves the sections other services own to them (one file for every service)', async () => {
    const shared = `${valid}\nfailover:\n  resources:\n    pg: { members: [] }\nverifier:\n  keys: []\n`;
    const config = await parseBackupConfig('/etc/continuity/continuity.yaml', shared);
    expect([...config.policies.keys()]).toEqual(['orders-nightly', 'uploads-hourly']);
  });

  it('rejects missing required keys, relative paths and unreadable key files', async () => {
    const problems = await problemsOf(
      valid.replace('    site: eu-west-1a\n    path: /srv/uploads', '    path: srv/uploads').replace(`keyFile: ${keyFile}`, `keyFile: ${join(dir, 'missing.key')}`),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^resources\.uploads\.site: is required/),
        'resources.uploads.path: must be an absolute path',
      ]),
    );
    const keyProblems = await problemsOf(valid.replace(`keyFile: ${keyFile}`, `keyFile: ${join(dir, 'missing.key')}`));
    expect(keyProblems).toEqual([expect.stringMatching(/^policies\.orders-nightly\.encryption\.keyFile: cannot read key file .*missing\.key: ENOENT/)]);
  });

  it('validates restoreTargets, naming the line: PostgreSQL patterns without passwords, absolute directories', async () => {
    const text = valid
      .replace('    connection: postgres://postgres@127.0.0.1:5432/orders\n', '    connection: postgres://postgres@127.0.0.1:5432/orders\n    restoreTargets: [postgres://postgres:hunter2@127.0.0.1:5432/orders_restore*, "postgres://a:1,b:2/x"]\n')
      .replace("    exclude: ['cache/**']\n", "    exclude: ['cache/**']\n    restoreTargets: [srv/restore]\n");
    let error: unknown;
    await parseBackupConfig('/etc/continuity/backup.yaml', text).catch((e) => (error = e));
    expect((error as Error).message).toContain('resources.orders-db.restoreTargets.0 (line 7): "postgres://postgres:***@127.0.0.1:5432/orders_restore*" must not carry a password');
    expect((error as Error).message).toContain('resources.orders-db.restoreTargets.1 (line 7): "postgres://a:1,b:2/x" is not a valid URL');
    expect((error as Error).message).toContain('resources.uploads.restoreTargets.0 (line 13): must be an absolute path');
    expect((error as Error).message).not.toContain('hunter2');
    const ok = await parseBackupConfig('/etc/continuity/backup.yaml', text.replace(/restoreTargets: \[postgres.*\]/, 'restoreTargets: [postgres://postgres@127.0.0.1/orders_restore*]').replace('[srv/restore]', '[/srv/restore]'));
    expect(ok.resources.get('uploads')).toMatchObject({ restoreTargets: ['/srv/restore'] });
  });

  it('takes method: basebackup for a PostgreSQL policy (pg_dump by default), refuses it for a directory, naming the line', async () => {
    const config = await parseBackupConfig('/etc/continuity/backup.yaml', valid);
    expect(config.policies.get('orders-nightly')!.method).toBe('pg_dump-custom');
    expect(config.policies.get('uploads-hourly')!.method).toBe('tar');
    const physical = await parseBackupConfig(
      '/etc/continuity/backup.yaml',
      valid.replace('    resource: orders-db\n', '    resource: orders-db\n    method: basebackup\n').replace('    connection: postgres://postgres@127.0.0.1:5432/orders\n', '    connection: postgres://postgres@127.0.0.1:5432/orders\n    restoreTargets: [/srv/pgdata-restore, postgres://postgres@127.0.0.1/orders_restore*]\n'),
    );
    expect(physical.policies.get('orders-nightly')!.method).toBe('basebackup');
    expect(await problemsOf(valid.replace('    resource: uploads\n', '    resource: uploads\n    method: basebackup\n'))).toEqual([
      'policies.uploads-hourly.method: "basebackup" backs up PostgreSQL; resource "uploads" is a directory (leave method out)',
    ]);
    const wrong = await parseBackupConfig('/etc/continuity/backup.yaml', valid.replace('    resource: orders-db\n', '    resource: orders-db\n    method: physical\n')).catch((e: Error) => e);
    expect((wrong as Error).message).toContain('policies.orders-nightly.method (line 19): must be "pg_dump" or "basebackup"');
  });

  it('takes a WAL archive for a PostgreSQL policy (walShipIntervalMs 60 s by default), refuses it for a directory and a bad interval', async () => {
    expect((await parseBackupConfig('/etc/continuity/backup.yaml', valid)).policies.get('orders-nightly')!.wal).toBeNull();
    const archived = await parseBackupConfig('/etc/continuity/backup.yaml', valid.replace('    resource: orders-db\n', '    resource: orders-db\n    wal: { enabled: true }\n'));
    expect(archived.policies.get('orders-nightly')!.wal).toEqual({ walShipIntervalMs: 60_000, partialVersionGraceMs: 3_600_000, restorePointIntervalMs: 300_000, synchronous: false, setSynchronousStandbyNames: false, followPrimary: false });
    const off = await parseBackupConfig('/etc/continuity/backup.yaml', valid.replace('    resource: orders-db\n', '    resource: orders-db\n    wal: { enabled: false, walShipIntervalMs: 5000 }\n'));
    expect(off.policies.get('orders-nightly')!.wal).toBeNull();
    expect(await problemsOf(valid.replace('    resource: uploads\n', '    resource: uploads\n    wal: { enabled: true }\n'))).toEqual([
      'policies.uploads-hourly.wal: a WAL archive streams PostgreSQL\'s WAL; resource "uploads" is a directory (leave wal out)',
    ]);
    const tooOften = await parseBackupConfig('/etc/continuity/backup.yaml', valid.replace('    resource: orders-db\n', '    resource: orders-db\n    wal: { enabled: true, walShipIntervalMs: 10 }\n')).catch((e: Error) => e);
    expect((tooOften as Error).message).toContain('must be at least 1000 (1 s)');
    const graced = await parseBackupConfig('/etc/continuity/backup.yaml', valid.replace('    resource: orders-db\n', '    resource: orders-db\n    wal: { enabled: true, partialVersionGraceMs: 60000 }\n'));
    expect(graced.policies.get('orders-nightly')!.wal!.partialVersionGraceMs).toBe(60_000);
    const none = await parseBackupConfig('/etc/continuity/backup.yaml', valid.replace('    resource: orders-db\n', '    resource: orders-db\n    wal: { enabled: true, partialVersionGraceMs: 0 }\n')).catch((e: Error) => e);
    expect((none as Error).message).toContain('must be at least 60000 (1 min)');
    const tooLong = await parseBackupConfig('/etc/continuity/backup.yaml', valid.replace('    resource: orders-db\n', '    resource: orders-db\n    wal: { enabled: true, partialVersionGraceMs: 604800001 }\n')).catch((e: Error) => e);
    expect((tooLong as Error).message).toContain('must be at most 604800000 (7 days)');
  });

  it('takes restore points, synchronous archiving and its setting of synchronous_standby_names, the latter only with synchronous', async () => {
    const sync = await parseBackupConfig(
      '/etc/continuity/backup.yaml',
      valid.replace('    resource: orders-db\n', '    resource: orders-db\n    wal: { enabled: true, restorePointIntervalMs: 60000, synchronous: true, setSynchronousStandbyNames: true }\n'),
    );
    expect(sync.policies.get('orders-nightly')!.wal).toEqual({ walShipIntervalMs: 60_000, partialVersionGraceMs: 3_600_000, restorePointIntervalMs: 60_000, synchronous: true, setSynchronousStandbyNames: true, followPrimary: false });
    expect(await problemsOf(valid.replace('    resource: orders-db\n', '    resource: orders-db\n    wal: { enabled: true, setSynchronousStandbyNames: true }\n'))).toEqual([
      'policies.orders-nightly.wal.setSynchronousStandbyNames: only with synchronous: true (it makes commits wait for the archiver)',
    ]);
    const tooRare = await parseBackupConfig('/etc/continuity/backup.yaml', valid.replace('    resource: orders-db\n', '    resource: orders-db\n    wal: { enabled: true, restorePointIntervalMs: 100000000 }\n')).catch((e: Error) => e);
    expect((tooRare as Error).message).toContain('must be at most 86400000 (1 day)');
  });

  it('rejects a second policy for the same resource and an unknown resource', async () => {
    const text = `${valid}  again:\n    resource: orders-db\n    copies: [local-disk, nas, offsite]\n  ghost:\n    resource: billing-db\n    copies: [local-disk, nas, offsite]\n`;
    expect(await problemsOf(text)).toEqual([
      'policies.again.resource: resource "orders-db" already has policy "orders-nightly": one policy per resource',
      'policies.ghost.resource: unknown resource "billing-db" (known: orders-db, uploads)',
    ]);
  });

  it('reports YAML syntax errors with their line', async () => {
    try {
      await parseBackupConfig('/x.yaml', 'resources:\n  a: [1, 2\n');
      throw new Error('expected a syntax error');
    } catch (error) {
      expect(error).toBeInstanceOf(BackupConfigError);
      expect((error as BackupConfigError).problems[0]).toMatchObject({ key: '(yaml)' });
      expect((error as BackupConfigError).problems[0]!.line).toBeGreaterThan(0);
    }
  });
});
