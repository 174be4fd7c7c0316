import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { identitiesFor } from '@continuity/artifacts';
import { formatDuration, parseDuration } from './duration.js';
import { loadVerifierConfig, parseBackupPolicyFile, parseVerifierConfig, VerifierConfigError } from './verifier-config.js';

describe('verifier configuration', () => {
  let dir: string;
  let identity: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'verifier-config-'));
    identity = await generateIdentity();
    writeFileSync(join(dir, 'orders.agekey'), `# orders\n${identity}\n`);
    writeFileSync(join(dir, 'recipients.agekey'), `${await identityToRecipient(identity)}\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads keys, per-resource assertions (text or named) and remote object stores', async () => {
    const config = await parseVerifierConfig(
      '/etc/v.yaml',
      `keys: [${join(dir, 'orders.agekey')}]
resources:
  orders-db:
    assertions:
      - select count(*) > 0 from orders
      - { name: recent, sql: "select max(created_at) > now() - interval '2 days' from orders" }
  cache: { restoreTest: false }
objectStores:
  offsite: { natsUrl: "nats://dr:4222" }
fileRoots: [/var/backups]
`,
    );
    expect(config.keys).toEqual([{ file: join(dir, 'orders.agekey'), identity, recipient: await identityToRecipient(identity) }]);
    expect(config.resources.get('orders-db')).toEqual({
      restoreTest: true,
      assertions: [
        { name: 'select count(*) > 0 from orders', sql: 'select count(*) > 0 from orders' },
        { name: 'recent', sql: "select max(created_at) > now() - interval '2 days' from orders" },
      ],
    });
    expect(config.resources.get('cache')).toEqual({ restoreTest: false, assertions: [] });
    expect(config.objectStores.get('offsite')).toBe('nats://dr:4222');
    expect(config.fileRoots).toEqual(['/var/backups']);
    expect(identitiesFor(config.keys, ['age1other', await identityToRecipient(identity)])).toEqual([identity]);
    expect(identitiesFor(config.keys, ['age1other'])).toEqual([]);
  });

  it('names every bad key with its line', async () => {
    const error = await parseVerifierConfig(
      '/etc/v.yaml',
      `keys: [relative.key, ${join(dir, 'missing.agekey')}]
resources:
  orders-db:
    assertion: [select 1]
    restoreTest: maybe
`,
    ).catch((e: unknown) => e as VerifierConfigError);
    expect(error).toBeInstanceOf(VerifierConfigError);
    expect((error as VerifierConfigError).message).toBe(
      [
        '/etc/v.yaml is invalid:',
        '  keys.0 (line 1): must be an absolute path',
        '  resources.orders-db.restoreTest (line 5): Invalid input: expected boolean, received string',
        '  resources.orders-db.assertion (line 4): unknown key',
      ].join('\n'),
    );
    const missing = await parseVerifierConfig('/etc/v.yaml', `keys: [${join(dir, 'missing.agekey')}]\n`).catch((e: Error) => e.message);
    expect(missing).toMatch(/keys\.0 \(line 1\): cannot read key file .*missing\.agekey/);
  });

  it("takes the backup policy file's key files (noting recipients-only ones), object stores' NATS URLs and filesystem locations (file roots)", async () => {
    const borrowed = await parseBackupPolicyFile(
      '/etc/backup.yaml',
      `locations:
  offsite: { kind: object-store, site: eu-central-1, bucket: continuity-offsite, natsUrl: "nats://dr:4222" }
  local: { kind: filesystem, site: a, medium: disk, path: /b }
policies:
  orders: { resource: orders-db, copies: [local], encryption: { keyFile: ${join(dir, 'orders.agekey')} } }
  uploads: { resource: uploads, copies: [local], encryption: { keyFile: ${join(dir, 'recipients.agekey')} } }
`,
    );
    expect(borrowed.keys.map((k) => k.identity)).toEqual([identity]);
    expect(borrowed.objectStores).toEqual(new Map([['continuity-offsite', 'nats://dr:4222']]));
    expect(borrowed.fileRoots).toEqual(['/b']);
    expect(borrowed.notes).toEqual([expect.stringMatching(/^policy uploads: .*recipients\.agekey holds recipients only/)]);
  });

  it("file roots: the file's own, else the backup policy file's filesystem locations, else none", async () => {
    const backup = join(dir, 'backup.yaml');
    writeFileSync(backup, 'locations:\n  local: { kind: filesystem, site: a, medium: disk, path: /srv/backups }\n');
    const own = join(dir, 'own.yaml');
    writeFileSync(own, 'fileRoots: [/mnt/nas]\n');
    expect((await loadVerifierConfig({ verifierConfig: own, backupConfig: backup })).fileRoots).toEqual(['/mnt/nas']);
    expect((await loadVerifierConfig({ backupConfig: backup })).fileRoots).toEqual(['/srv/backups']);
    expect((await loadVerifierConfig({})).fileRoots).toBeNull();
  });

  it('parses and formats durations', () => {
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('0s')).toBeNull();
    expect(parseDuration('soon')).toBeNull();
    expect(formatDuration(30 * 86_400_000)).toBe('30d');
    expect(formatDuration(5_400_000)).toBe('90m');
  });
});
