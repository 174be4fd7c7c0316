import { BackupConfigError, parseBackupConfig } from './backup-config.loader.js';

const base = `
resources:
  orders-db: { kind: postgres, site: eu-west-1a, connection: postgres://postgres@127.0.0.1:5432/orders }
  uploads: { kind: directory, site: eu-west-1a, path: /srv/uploads }
  unprotected: { kind: directory, site: eu-west-1a, path: /srv/other }
locations:
  local-disk: { kind: filesystem, site: eu-west-1a, medium: disk, path: /var/backups/a }
  nas: { kind: filesystem, site: eu-west-1b, medium: nas, path: /mnt/nas }
  offsite: { kind: filesystem, site: eu-central-1, medium: tape, path: /mnt/tape }
policies:
  orders: { resource: orders-db, copies: [local-disk, nas, offsite] }
  uploads: { resource: uploads, copies: [local-disk, nas, offsite] }
`;

const problemsOf = async (drills: string) => {
  try {
    await parseBackupConfig('/etc/continuity/backup.yaml', `${base}drills:\n${drills}`);
  } catch (error) {
    if (error instanceof BackupConfigError) return error.problems.map((p) => `${p.key}: ${p.message}`);
    throw error;
  }
  throw new Error('expected the configuration to be rejected');
};

describe('drills: in the backup configuration', () => {
  it('resolves each resource drill with its defaults and schedule', async () => {
    const config = await parseBackupConfig(
      '/etc/continuity/backup.yaml',
      `${base}drills:
  orders-db: { scratch: "postgres://postgres@127.0.0.1:5432/orders_drill", schedule: every 24h, failover: { standby: pg-b } }
  uploads: { scratch: /srv/drills, targets: { rtoMs: 5000 } }
`,
    );
    expect(config.drills.get('orders-db')).toMatchObject({
      resourceName: 'orders-db',
      kind: 'restore',
      schedule: { kind: 'interval', everyMs: 86_400_000 },
      targets: { rtoMs: 30_000, rpoMs: 300_000 },
      stepTimeoutMs: 600_000,
      assertions: [],
      failover: { standby: 'pg-b', switchBack: true },
    });
    expect(config.drills.get('uploads')).toMatchObject({ schedule: null, targets: { rtoMs: 5_000, rpoMs: 300_000 } });
  });

  it.each([
    ['  billing-db: { scratch: /srv/drills }', 'drills.billing-db: unknown resource "billing-db"'],
    ['  unprotected: { scratch: /srv/drills }', 'drills.unprotected: resource "unprotected" has no policy'],
    ['  orders-db: { scratch: /srv/drills }', 'drills.orders-db.scratch: a PostgreSQL resource is restored into a scratch database'],
    ['  uploads: { scratch: "postgres://postgres@h/x" }', 'drills.uploads.scratch: a directory resource is restored into a scratch directory'],
    ['  orders-db: { scratch: "postgres://postgres:secret@h/x" }', 'must not carry a password'],
    ['  orders-db: { scratch: "postgres://postgres@h/Orders-Prod" }', 'the database prefix must be'],
    ['  orders-db: { scratch: "postgres://postgres@h/x?host=evil" }', 'could point the connection elsewhere'],
    ['  uploads: { scratch: /srv/drills, failover: {} }', 'drills.uploads.failover: failover drills switch over a replicated PostgreSQL resource'],
    ['  uploads: { scratch: /srv/drills, kind: teleport }', 'must be "restore", "failover" or "full"'],
    ['  uploads: { scratch: /srv/drills, stepTimeoutMs: 10 }', 'drills.uploads.stepTimeoutMs'],
    ['  uploads: { scratch: /srv/drills, retries: 3 }', 'unknown key'],
  ])('refuses %s', async (drills, problem) => {
    const problems = await problemsOf(drills);
    expect(problems.join('\n')).toContain(problem);
    expect(problems.join('\n')).not.toContain('secret');
  });
});
