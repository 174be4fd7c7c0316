import { serverEnvironment } from './data-directory.target.js';

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
