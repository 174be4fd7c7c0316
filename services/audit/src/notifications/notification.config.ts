import { statSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { ConfigFileError, ConfigProblem, parseYamlConfig, readConfigFile, zodProblems } from '@continuity/runtime';
import { GLOB_PATTERN, globMatches } from './glob.js';
import { NOTIFIED_TYPES, SEVERITIES, Severity } from './notice.js';

/**
 * The notifications file (`AUDIT_NOTIFICATIONS_FILE`): channels, which resources route to which
 * channels, and who to contact per resource (for the continuity plan). Secrets (a webhook's HMAC
 * secret, a Slack URL, which is itself a credential) come from files of their own, read at start
 * and never logged, published or put in an error.
 */
export class NotificationsConfigError extends ConfigFileError {
  override readonly name = 'NotificationsConfigError';
  override readonly code = 'AUDIT.NOTIFICATIONS_CONFIG_INVALID';
}
const fail = (file: string, problems: ConfigProblem[]) => new NotificationsConfigError(file, problems);

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const ChannelName = z.string().regex(NAME, 'must be 1-64 letters, digits, _ or -, starting with a letter or digit');
const Glob = z.string().regex(GLOB_PATTERN, 'must be a resource name or a glob (* and ?) of at most 128 characters');
const AbsolutePath = z.string().min(1).max(1024).refine(isAbsolute, 'must be an absolute path');

/** http(s) only, bounded, with no user:password in it (use `secretFile` for the signature secret). */
export const WebhookUrl = z
  .string()
  .max(2048, 'must be at most 2048 characters')
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL' });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: `must be an http:// or https:// URL (got ${url.protocol}//)` });
    if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'must not carry credentials (user:password@); sign with secretFile instead' });
  });

const ChannelSchema = z
  .strictObject({
    kind: z.enum(['webhook', 'slack']),
    /** Exactly one of `url` and `urlFile` (a Slack URL is a credential: prefer the file). */
    url: WebhookUrl.optional(),
    urlFile: AbsolutePath.optional(),
    /** HMAC-SHA256 secret (file mode 0600); required for `webhook`, optional for `slack`. */
    secretFile: AbsolutePath.optional(),
    timeoutMs: z.int().min(100).max(120_000).default(10_000),
  })
  .superRefine((channel, ctx) => {
    if (!!channel.url === !!channel.urlFile) ctx.addIssue({ code: 'custom', path: ['url'], message: 'give exactly one of url and urlFile' });
    if (channel.kind === 'webhook' && !channel.secretFile) ctx.addIssue({ code: 'custom', path: ['secretFile'], message: 'is required for a webhook: its body is HMAC-signed' });
  });

const RouteSchema = z.strictObject({
  resources: z.array(Glob).min(1).max(100),
  channels: z.array(ChannelName).min(1).max(20),
  /** Only these types (default every notified type). */
  types: z.array(z.enum(NOTIFIED_TYPES)).min(1).optional(),
  /** Only notices at least this severe (default every one). */
  minSeverity: z.enum(SEVERITIES).default('info'),
});

const ContactSchema = z.strictObject({
  resources: z.array(Glob).min(1).max(100),
  name: z.string().min(1).max(128),
  role: z.string().min(1).max(128).optional(),
  email: z.string().max(256).optional(),
  phone: z.string().max(64).optional(),
});

export const NotificationsFileSchema = z.strictObject({
  channels: z.record(ChannelName, ChannelSchema).default({}),
  routes: z.array(RouteSchema).max(1_000).default([]),
  contacts: z.array(ContactSchema).max(1_000).default([]),
  /** The same news (type + resource + key) is told once per channel within this window. */
  dedupWindowMs: z.int().min(0).max(7 * 86_400_000).default(600_000),
  /** Events older than this when first seen are not notified (a new consumer reads history from the start). */
  maxEventAgeMs: z.int().min(1_000).default(86_400_000),
  retry: z.strictObject({ initialDelayMs: z.int().min(10).max(60_000).default(1_000), maxDelayMs: z.int().min(10).max(3_600_000).default(60_000) }).default({ initialDelayMs: 1_000, maxDelayMs: 60_000 }),
});

export interface Channel {
  readonly name: string;
  readonly kind: 'webhook' | 'slack';
  /** May carry a credential (a Slack token in its path): never log, publish or put it in an error. */
  readonly url: string;
  readonly secret: string | null;
  readonly timeoutMs: number;
}

export type Route = z.infer<typeof RouteSchema>;
export type Contact = z.infer<typeof ContactSchema>;

export interface NotificationSettings {
  readonly file: string | null;
  readonly channels: ReadonlyMap<string, Channel>;
  readonly routes: readonly Route[];
  readonly contacts: readonly Contact[];
  readonly dedupWindowMs: number;
  readonly maxEventAgeMs: number;
  readonly retry: { initialDelayMs: number; maxDelayMs: number };
}

export const NO_NOTIFICATIONS: NotificationSettings = { file: null, channels: new Map(), routes: [], contacts: [], dedupWindowMs: 600_000, maxEventAgeMs: 86_400_000, retry: { initialDelayMs: 1_000, maxDelayMs: 60_000 } };

/** A secret file: absolute, a regular file no one but the owner may read, non-empty, at most 4 KiB. */
const readSecretFile = (path: string): string => {
  const stat = statSync(path);
  if (!stat.isFile()) throw new Error('is not a regular file');
  if ((stat.mode & 0o077) !== 0) throw new Error(`may be read by group or others (mode ${(stat.mode & 0o777).toString(8)}): chmod 600 it`);
  if (stat.size > 4096) throw new Error('is larger than 4 KiB');
  const value = readFileSync(path, 'utf8').trim();
  if (!value) throw new Error('is empty');
  return value;
};

export const parseNotificationsConfig = (file: string, text: string, readSecret: (path: string) => string = readSecretFile): NotificationSettings => {
  const yaml = parseYamlConfig(file, text, fail);
  const parsed = NotificationsFileSchema.safeParse(yaml.raw);
  if (!parsed.success) throw fail(file, zodProblems(parsed.error.issues, yaml));
  const config = parsed.data;
  const problems: ConfigProblem[] = [];
  const channels = new Map<string, Channel>();
  for (const [name, channel] of Object.entries(config.channels)) {
    const secretOf = (key: 'urlFile' | 'secretFile', path: string | undefined) => {
      if (!path) return null;
      try {
        return readSecret(path);
      } catch (error) {
        // The path is configuration, not a secret; the file's content never appears here.
        problems.push(yaml.problem(['channels', name, key], `${path} cannot be used: ${(error as Error).message}`));
        return null;
      }
    };
    const url = channel.url ?? secretOf('urlFile', channel.urlFile);
    if (url && channel.urlFile) {
      const bad = WebhookUrl.safeParse(url);
      // Say what is wrong without repeating the URL.
      if (!bad.success) problems.push(yaml.problem(['channels', name, 'urlFile'], `the URL in ${channel.urlFile} ${bad.error.issues[0]!.message}`));
    }
    const secret = secretOf('secretFile', channel.secretFile);
    if (url) channels.set(name, { name, kind: channel.kind, url, secret, timeoutMs: channel.timeoutMs });
  }
  config.routes.forEach((route, i) =>
    route.channels.forEach((name, j) => {
      if (!(name in config.channels)) problems.push(yaml.problem(['routes', i, 'channels', j], `no channel named ${JSON.stringify(name)} (channels: ${Object.keys(config.channels).join(', ') || 'none'})`));
    }),
  );
  if (config.retry.maxDelayMs < config.retry.initialDelayMs) problems.push(yaml.problem(['retry', 'maxDelayMs'], 'must be at least retry.initialDelayMs'));
  if (problems.length) throw fail(file, problems);
  return { file, channels, routes: config.routes, contacts: config.contacts, dedupWindowMs: config.dedupWindowMs, maxEventAgeMs: config.maxEventAgeMs, retry: config.retry };
};

export const loadNotificationsConfig = async (file: string | undefined): Promise<NotificationSettings> => {
  if (!file) return NO_NOTIFICATIONS;
  const { path, text } = await readConfigFile(file, fail);
  return parseNotificationsConfig(path, text);
};

const SEVERITY_RANK = (s: Severity) => SEVERITIES.indexOf(s);

/** The channels a notice about `resource` of `type` and `severity` goes to, each once, in configuration order. */
export const channelsFor = (settings: Pick<NotificationSettings, 'routes'>, resource: string, type: string, severity: Severity): string[] => {
  const names = new Set<string>();
  for (const route of settings.routes) {
    if (!route.resources.some((glob) => globMatches(glob, resource))) continue;
    if (route.types && !(route.types as string[]).includes(type)) continue;
    if (SEVERITY_RANK(severity) < SEVERITY_RANK(route.minSeverity)) continue;
    route.channels.forEach((c) => names.add(c));
  }
  return [...names];
};

/** The contacts and routes that name `resource` (for its continuity plan). */
export const contactsFor = (settings: Pick<NotificationSettings, 'contacts'>, resource: string): Contact[] =>
  settings.contacts.filter((c) => c.resources.some((glob) => globMatches(glob, resource)));

export const routesFor = (settings: Pick<NotificationSettings, 'routes'>, resource: string): Route[] =>
  settings.routes.filter((r) => r.resources.some((glob) => globMatches(glob, resource)));
