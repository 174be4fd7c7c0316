import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * Who may call the HTTP API. A viewer reads; an operator also triggers (backups, restores,
 * verifications, switchovers, replays); an auditor reads the audit ledger; an admin may do all of it.
 */
export const ROLES = ['viewer', 'operator', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

// admin ⊇ operator ⊇ viewer; auditor ⊇ viewer. Audit reads are for auditors (and operators, who
// need them to follow what they triggered); reading the ledger is not a viewer's business.
const GRANTS: Record<Role, readonly Role[]> = {
  viewer: ['viewer'],
  operator: ['operator', 'viewer'],
  auditor: ['auditor', 'viewer'],
  admin: ['admin', 'operator', 'auditor', 'viewer'],
};

/** Whether a token of role `held` may use a route that needs `needed`. */
export const grants = (held: Role, needed: Role): boolean => GRANTS[held].includes(needed);

/** A bearer token, kept only as its SHA-256: the raw token is not held after start. */
export interface AccessToken {
  name: string;
  role: Role;
  sha256: Buffer;
}

export const hashToken = (token: string) => createHash('sha256').update(token).digest();

/** Tokens given in clear must be long enough that guessing them (even at 10 tries a minute) is hopeless. */
export const MIN_TOKEN_LENGTH = 32;

const NAME = /^[A-Za-z0-9_.@-]{1,64}$/;
const TOKEN = /^[^\s,]+$/;
const isRole = (value: string): value is Role => (ROLES as readonly string[]).includes(value);

/**
 * Parses a comma-separated list, one entry at a time. Problems name the entry's position, never its
 * text: a token pasted into the wrong field must not end up in a log.
 */
const tokenList = (format: string, parse: (entry: string) => AccessToken | string) =>
  z.string().transform((value, ctx): AccessToken[] => {
    const tokens: AccessToken[] = [];
    const entries = value.split(',').map((p) => p.trim()).filter(Boolean);
    entries.forEach((entry, i) => {
      const parsed = parse(entry);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: `entry ${i + 1}: ${parsed} (the format is ${format})` });
      else tokens.push(parsed);
    });
    return tokens;
  });

const clearToken = (name: string, role: string, token: string): AccessToken | string => {
  if (!NAME.test(name)) return 'the name must be 1-64 letters, digits, _ . @ -';
  if (!isRole(role)) return `the role must be one of ${ROLES.join(', ')}`;
  if (token.length < MIN_TOKEN_LENGTH || !TOKEN.test(token)) return `the token must be ${MIN_TOKEN_LENGTH}+ characters without spaces or commas`;
  return { name, role, sha256: hashToken(token) };
};

/** `CONTINUITY_TOKENS`: `name:role:token,…`. */
export const clearTokens = tokenList('name:role:token,…', (entry) => {
  const [name = '', role = '', ...rest] = entry.split(':');
  return clearToken(name, role, rest.join(':'));
});

/** Deprecated `CONTINUITY_OPERATOR_TOKENS`: `name:token,…`, each an operator. */
export const legacyOperatorTokens = tokenList('name:token,…', (entry) => {
  const at = entry.indexOf(':');
  return at < 1 ? 'expected name:token' : clearToken(entry.slice(0, at), 'operator', entry.slice(at + 1));
});

/** Deprecated `AUDIT_TOKENS`: `token:role,…` (auditor or operator), named `audit-<role>`. */
export const legacyAuditTokens = tokenList('token:role,…', (entry) => {
  const at = entry.lastIndexOf(':');
  const role = entry.slice(at + 1);
  if (at < 1 || (role !== 'auditor' && role !== 'operator')) return 'expected token:role with role auditor or operator';
  return clearToken(`audit-${role}`, role, entry.slice(0, at));
});

/**
 * `CONTINUITY_TOKENS_FILE`: one token a line, `name role sha256-hex` (the hex SHA-256 of the token),
 * `#` comments and blank lines ignored. Only hashes at rest: the file is not a secret to whoever
 * can read it, and a leaked copy grants nothing.
 */
export const hashedTokensFile = z.string().transform((path, ctx): AccessToken[] => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})` });
    return z.NEVER;
  }
  const tokens: AccessToken[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const [name = '', role = '', hex = '', extra] = line.split(/\s+/);
    if (extra !== undefined || !NAME.test(name) || !isRole(role) || !/^[0-9a-f]{64}$/i.test(hex)) {
      ctx.addIssue({ code: 'custom', message: `line ${i + 1}: must be "name role sha256-hex" with a role of ${ROLES.join(', ')}` });
      return;
    }
    tokens.push({ name, role, sha256: Buffer.from(hex, 'hex') });
  });
  return tokens;
});

/** Every token the service accepts, from every variable that may hold them. */
export const accessTokensOf = (config: {
  CONTINUITY_TOKENS: AccessToken[];
  CONTINUITY_TOKENS_FILE: AccessToken[];
  CONTINUITY_OPERATOR_TOKENS: AccessToken[];
  AUDIT_TOKENS: AccessToken[];
}): AccessToken[] => [...config.CONTINUITY_TOKENS, ...config.CONTINUITY_TOKENS_FILE, ...config.CONTINUITY_OPERATOR_TOKENS, ...config.AUDIT_TOKENS];
