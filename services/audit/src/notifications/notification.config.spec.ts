import { NotificationsConfigError, channelsFor, contactsFor, parseNotificationsConfig } from './notification.config.js';
import { claimDecision } from './notification.store.js';

const secrets: Record<string, string> = { '/s/oncall': 'webhook-secret', '/s/slack-url': 'https://hooks.slack.com/services/T000/B000/XXXX' };
const read = (path: string) => {
  if (!(path in secrets)) throw new Error('ENOENT: no such file');
  return secrets[path]!;
};
const parse = (text: string) => parseNotificationsConfig('/etc/continuity/notifications.yaml', text, read);

const problemsOf = (text: string) => {
  try {
    parse(text);
  } catch (error) {
    expect(error).toBeInstanceOf(NotificationsConfigError);
    return (error as NotificationsConfigError).problems.map((p) => `${p.key}: ${p.message}`);
  }
  throw new Error('expected the file to be refused');
};

const GOOD = `
channels:
  oncall: { kind: webhook, url: 'https://alerts.example.com/continuity', secretFile: /s/oncall }
  dr-room: { kind: slack, urlFile: /s/slack-url }
routes:
  - { resources: ['orders-*'], channels: [oncall, dr-room] }
  - { resources: ['*'], channels: [dr-room], types: [FailoverTriggered], minSeverity: critical }
contacts:
  - { resources: ['orders-*'], name: Orders on-call, email: orders-oncall@example.com }
`;

describe('notifications file', () => {
  it('reads channels with their secrets from files, routes and contacts', () => {
    const settings = parse(GOOD);
    expect(settings.channels.get('oncall')).toMatchObject({ kind: 'webhook', secret: 'webhook-secret', timeoutMs: 10_000 });
    expect(settings.channels.get('dr-room')).toMatchObject({ kind: 'slack', url: secrets['/s/slack-url'], secret: null });
    expect(settings.dedupWindowMs).toBe(600_000);
    expect(channelsFor(settings, 'orders-db', 'BackupFailed', 'high')).toEqual(['oncall', 'dr-room']);
    expect(channelsFor(settings, 'billing-db', 'BackupFailed', 'high')).toEqual([]);
    expect(channelsFor(settings, 'billing-db', 'FailoverTriggered', 'critical')).toEqual(['dr-room']);
    expect(channelsFor(settings, 'billing-db', 'FailoverTriggered', 'info')).toEqual([]);
    expect(contactsFor(settings, 'orders-db').map((c) => c.name)).toEqual(['Orders on-call']);
    expect(contactsFor(settings, 'billing-db')).toEqual([]);
  });

  it('refuses non-http URLs, credentials in URLs, unknown channels and keys, naming each', () => {
    const problems = problemsOf(`
channels:
  a: { kind: webhook, url: 'file:///etc/passwd', secretFile: /s/oncall }
  b: { kind: webhook, url: 'https://user:pw@example.com/x', secretFile: /s/oncall }
  c: { kind: webhook, url: 'https://example.com/x' }
  d: { kind: slack, url: 'https://example.com/x', colour: red }
routes:
  - { resources: ['orders-*'], channels: [nope] }
`);
    expect(problems).toEqual(
      expect.arrayContaining([
        'channels.a.url: must be an http:// or https:// URL (got file://)',
        'channels.b.url: must not carry credentials (user:password@); sign with secretFile instead',
        'channels.c.secretFile: is required for a webhook: its body is HMAC-signed',
        'channels.d.colour: unknown key',
      ]),
    );
    expect(problemsOf(`channels:\n  a: { kind: webhook, url: 'https://x.example/${'a'.repeat(2100)}', secretFile: /s/oncall }`)).toEqual(['channels.a.url: must be at most 2048 characters']);
    expect(problemsOf(`channels:\n  a: { kind: slack, url: 'https://x.example' }\nroutes:\n  - { resources: ['x'], channels: [nope] }`)).toEqual(['routes.0.channels.0: no channel named "nope" (channels: a)']);
    expect(problemsOf(`routes:\n  - { resources: ['orders.db'], channels: [a] }`)[0]).toMatch(/^routes\.0\.resources\.0: must be a resource name or a glob/);
  });

  it('names an unreadable secret file without its content, and never repeats a URL read from a file', () => {
    expect(problemsOf(`channels:\n  a: { kind: webhook, url: 'https://x.example', secretFile: /s/missing }`)).toEqual(['channels.a.secretFile: /s/missing cannot be used: ENOENT: no such file']);
    secrets['/s/bad-url'] = 'ftp://user:hunter2@x.example/';
    const problems = problemsOf(`channels:\n  a: { kind: slack, urlFile: /s/bad-url }`);
    expect(problems).toHaveLength(1);
    expect(problems[0]).not.toContain('hunter2');
  });
});

describe('claimDecision', () => {
  it('delivers new news, suppresses a repeat within the window, and never tells a channel twice', () => {
    expect(claimDecision(null, false)).toBe('deliver');
    expect(claimDecision(null, true)).toBe('suppress');
    expect(claimDecision('delivered', false)).toBe('skip');
    expect(claimDecision('suppressed', false)).toBe('skip');
    expect(claimDecision('pending', true)).toBe('deliver'); // a crash mid-delivery: retried
    expect(claimDecision('refused', false)).toBe('deliver'); // a replayed dead letter: tried again
  });
});
