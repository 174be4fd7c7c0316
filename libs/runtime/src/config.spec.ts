import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseEnvSchema, ConfigError, loadConfig, natsAuthOf, redactUrl, topologyFor } from './config.js';
import { accessTokensOf, hashToken } from './http/access-tokens.js';

describe('loadConfig', () => {
  const schema = baseEnvSchema(3001);

  it('applies defaults when nothing is set', () => {
    expect(loadConfig(schema, {})).toEqual({
      NATS_URL: 'nats://127.0.0.1:4222',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/continuity',
      PORT: 3001,
      HOST: '127.0.0.1',
      CONTINUITY_NAMESPACE: 'continuity',
      LOG_LEVEL: 'log',
      LOG_FORMAT: 'text',
      JETSTREAM_ACK_WAIT_MS: 30_000,
      CONTINUITY_TOKENS: [],
      CONTINUITY_TOKENS_FILE: [],
      CONTINUITY_OPERATOR_TOKENS: [],
      NATS_REPLICAS: 1,
      STARTUP_WAIT_MS: 120_000,
      AUDIT_TOKENS: [],
      CONTINUITY_AUTH_MAX_FAILURES: 10,
      CONTINUITY_AUTH_WINDOW_MS: 60_000,
      CONTINUITY_PUBLISHERS: [],
      EVENT_MAX_FUTURE_SKEW_MS: 300_000,
    });
  });

  it('repeats a bad URL without its password', () => {
    let message = '';
    try {
      loadConfig(schema, { DATABASE_URL: 'mysql://admin:hunter2@db/x', NATS_URL: 'nats://u:s3cret@h:99999' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('DATABASE_URL: must be a postgres:// or postgresql:// URL');
    expect(message).toContain('(got "mysql://admin:***@db/x")');
    expect(message).toContain('(got "nats://u:***@h:99999")');
    expect(message).not.toMatch(/hunter2|s3cret/);
  });

  it('reads NATS credentials: a bad combination names the variables, never the password', () => {
    const config = loadConfig(schema, { NATS_USER: 'backup', NATS_PASSWORD: 'hunter2-very-secret' });
    expect(natsAuthOf(config)).toEqual({ user: 'backup', pass: 'hunter2-very-secret' });
    expect(() => natsAuthOf(loadConfig(schema, { NATS_PASSWORD: 'hunter2-very-secret' }))).toThrow('NATS_USER: must be set with NATS_PASSWORD');
    expect(() => natsAuthOf(loadConfig(schema, { NATS_PASSWORD: 'hunter2-very-secret' }))).not.toThrow('hunter2');
    expect(() => natsAuthOf(loadConfig(schema, { NATS_USER: 'a', NATS_PASSWORD: 'p', NATS_NKEY_SEED_FILE: '/nonexistent.nk' }))).toThrow('set only one of');
    expect(() => natsAuthOf(loadConfig(schema, { NATS_NKEY_SEED_FILE: '/nonexistent.nk' }))).toThrow('NATS_NKEY_SEED_FILE: cannot read /nonexistent.nk: ENOENT');
    expect(() => loadConfig(schema, { CONTINUITY_PUBLISHERS: 'backup=orders-db' })).toThrow('CONTINUITY_PUBLISHERS: publisher name backup is reserved');
  });

  const token = 'a-long-enough-token-of-32-characters';

  it('keeps tokens only hashed, with their names and roles, and never repeats a bad one back', () => {
    const { CONTINUITY_TOKENS } = loadConfig(schema, { CONTINUITY_TOKENS: `alice:operator:${token}, bob:viewer:${'b'.repeat(32)}` });
    expect(CONTINUITY_TOKENS.map(({ name, role }) => ({ name, role }))).toEqual([{ name: 'alice', role: 'operator' }, { name: 'bob', role: 'viewer' }]);
    expect(CONTINUITY_TOKENS[0]!.sha256).toEqual(hashToken(token));
    expect(JSON.stringify(CONTINUITY_TOKENS)).not.toContain(token);
    for (const [bad, problem] of [
      ['alice:operator:short-secret-of-31-characters-x', 'entry 1: the token must be 32+ characters'],
      [`alice:root:${token}`, 'entry 1: the role must be one of viewer, operator, auditor, admin'],
      [`bob:viewer:${token},${token}`, 'entry 2: the role must be'],
    ] as const) {
      let error: unknown;
      try {
        loadConfig(schema, { CONTINUITY_TOKENS: bad });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain(`CONTINUITY_TOKENS: ${problem}`);
      expect((error as Error).message).not.toContain('short-secret');
      expect((error as Error).message).not.toContain(token);
    }
  });

  it('reads hashed tokens from CONTINUITY_TOKENS_FILE and names a bad line, not its content', () => {
    const dir = mkdtempSync(join(tmpdir(), 'continuity-tokens-'));
    try {
      const file = join(dir, 'tokens');
      writeFileSync(file, `# name role sha256\ncarol admin ${hashToken(token).toString('hex')}\n\ndave auditor ${'ab'.repeat(32)}\n`);
      expect(loadConfig(schema, { CONTINUITY_TOKENS_FILE: file }).CONTINUITY_TOKENS_FILE).toEqual([
        { name: 'carol', role: 'admin', sha256: hashToken(token) },
        { name: 'dave', role: 'auditor', sha256: Buffer.from('ab'.repeat(32), 'hex') },
      ]);
      writeFileSync(file, `carol admin ${token}\n`);
      expect(() => loadConfig(schema, { CONTINUITY_TOKENS_FILE: file })).toThrow('CONTINUITY_TOKENS_FILE: line 1: must be "name role sha256-hex"');
      expect(() => loadConfig(schema, { CONTINUITY_TOKENS_FILE: file })).not.toThrow(token);
      expect(() => loadConfig(schema, { CONTINUITY_TOKENS_FILE: join(dir, 'missing') })).toThrow('CONTINUITY_TOKENS_FILE: cannot read the file (ENOENT)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('still accepts the deprecated CONTINUITY_OPERATOR_TOKENS and AUDIT_TOKENS, with the same length rule', () => {
    const config = loadConfig(schema, { CONTINUITY_OPERATOR_TOKENS: `erin:${token}`, AUDIT_TOKENS: `${'f'.repeat(32)}:auditor` });
    expect(accessTokensOf(config).map(({ name, role }) => ({ name, role }))).toEqual([
      { name: 'erin', role: 'operator' },
      { name: 'audit-auditor', role: 'auditor' },
    ]);
    expect(() => loadConfig(schema, { CONTINUITY_OPERATOR_TOKENS: 'erin:sixteen-chars-xx' })).toThrow('CONTINUITY_OPERATOR_TOKENS: entry 1: the token must be 32+ characters');
    expect(() => loadConfig(schema, { AUDIT_TOKENS: 'auditor-token-1234:auditor' })).toThrow('AUDIT_TOKENS: entry 1: the token must be 32+ characters');
    expect(() => loadConfig(schema, { AUDIT_TOKENS: 'auditor-token-1234:auditor' })).not.toThrow('auditor-token-1234');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig(schema, { PORT: '' }).PORT).toBe(3001);
  });

  it.each([
    ['NATS_URL', 'localhost:4222', 'NATS_URL: must be one or more comma-separated nats:// URLs'],
    ['NATS_URL', 'http://127.0.0.1:4222', 'NATS_URL: must be one or more'],
    ['DATABASE_URL', 'mysql://x@y/z', 'DATABASE_URL: must be a postgres:// or postgresql:// URL'],
    ['PORT', 'eighty', 'PORT: must be a port number'],
    ['PORT', '70000', 'PORT: must be between 1 and 65535'],
    ['CONTINUITY_NAMESPACE', 'Bad.Name', 'CONTINUITY_NAMESPACE: must be lowercase'],
    ['NATS_REPLICAS', '0', 'NATS_REPLICAS: must be a whole number from 1 to 5'],
    ['NATS_REPLICAS', '7', 'NATS_REPLICAS: must be a whole number from 1 to 5: JetStream keeps at most 5 replicas'],
    ['NATS_REPLICAS', 'three', 'NATS_REPLICAS: must be a whole number from 1 to 5'],
    ['NATS_REPLICAS', '2.5', 'NATS_REPLICAS: must be a whole number from 1 to 5'],
    ['STARTUP_WAIT_MS', '-1', 'STARTUP_WAIT_MS: must be 0 or more'],
  ])('names %s when it is %j', (variable, value, message) => {
    expect(() => loadConfig(schema, { [variable]: value })).toThrow(ConfigError);
    expect(() => loadConfig(schema, { [variable]: value })).toThrow(message);
    expect(() => loadConfig(schema, { [variable]: value })).toThrow(`(got ${JSON.stringify(value)})`);
  });

  it('reports every bad variable at once', () => {
    try {
      loadConfig(schema, { NATS_URL: 'x', PORT: '0' });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect((error as ConfigError).problems.map((p) => p.variable)).toEqual(['NATS_URL', 'PORT']);
    }
  });

  it('reads the replica count for a cluster', () => {
    expect(loadConfig(schema, { NATS_REPLICAS: '3' }).NATS_REPLICAS).toBe(3);
  });

  it('accepts a cluster of NATS URLs', () => {
    expect(loadConfig(schema, { NATS_URL: 'nats://a:4222,nats://b:4222' }).NATS_URL).toBe('nats://a:4222,nats://b:4222');
  });
});

describe('helpers', () => {
  it('redacts passwords', () => {
    expect(redactUrl('postgres://app:s3cret@db:5432/x')).toBe('postgres://app:***@db:5432/x');
    expect(redactUrl('postgres://postgres@db/x')).toBe('postgres://postgres@db/x');
    expect(redactUrl('nats://u:pw@a:4222,nats://u:pw@b:4222')).toBe('nats://u:***@a:4222,nats://u:***@b:4222');
  });
  it('maps the namespace to streams', () => {
    expect(topologyFor('continuity').eventStream).toBe('CONTINUITY');
    expect(topologyFor('t_abc').eventStream).toBe('T_ABC');
  });
});
