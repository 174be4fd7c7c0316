import { firstStartArgs, serverEnvironment } from './data-directory.target.js';

describe('serverEnvironment: what a restored server (and its restore_command) inherits', () => {
  it('attack: the restore’s own secrets never reach a server that outlives it; locale, PATH and the NATS identity for wal-fetch do', () => {
    const env = serverEnvironment({
      PATH: '/usr/bin',
      LANG: 'C.UTF-8',
      LC_ALL: 'C',
      TZ: 'UTC',
      NATS_URL: 'nats://127.0.0.1:4222',
      NATS_NKEY_SEED_FILE: '/etc/continuity/restore.nk',
      NATS_USER: 'restorer',
      NATS_PASSWORD: 'nats-secret',
      DATABASE_URL: 'postgres://continuity:catalogue-secret@db/continuity',
      CONTINUITY_AUDIT_TOKEN: 'audit-token',
      CONTINUITY_TOKENS: 'operator:abc',
      PGPASSWORD: 'pg-secret',
      AUDIT_SIGNING_KEY_FILE: '/keys/audit.pem',
      NATS_URL_EXTRA: 'x',
      NODE_OPTIONS: '--require /tmp/evil.js',
    });
    expect(Object.keys(env).sort()).toEqual(['LANG', 'LC_ALL', 'NATS_NKEY_SEED_FILE', 'NATS_PASSWORD', 'NATS_URL', 'NATS_USER', 'PATH', 'TZ']);
    expect(JSON.stringify(env)).not.toMatch(/catalogue-secret|audit-token|pg-secret|abc|evil/);
  });
});

describe('firstStartArgs: the restored cluster\'s first start', () => {
  it('syncs the (already flushed) file system with syncfs from PostgreSQL 14 on, for that start only', () => {
    const args = firstStartArgs('/data/db', '/data/db/start.log', '15');
    expect(args.slice(0, 4)).toEqual(['-D', '/data/db', '-l', '/data/db/start.log']);
    expect(args.slice(-4)).toEqual(['-w', '-t', '3600', 'start']);
    if (process.platform === 'linux') expect(args).toEqual(expect.arrayContaining(['-o', '-c recovery_init_sync_method=syncfs']));
  });

  it('leaves the setting out before PostgreSQL 14, which does not know it, and when the version is not known', () => {
    expect(firstStartArgs('/data/db', '/data/db/start.log', '13')).not.toContain('-o');
    expect(firstStartArgs('/data/db', '/data/db/start.log', null)).not.toContain('-o');
  });
});
