import { createHash, randomBytes } from 'node:crypto';
import type { Role } from './access-tokens.js';

/** The cookie a browser holds after logging in once with a token (the audit status page's form). */
export const SESSION_COOKIE = 'continuity_session';

export interface SessionCaller {
  name: string;
  role: Role;
}

/** `name`'s value in a `Cookie` header, or undefined (first one wins, as browsers send the most specific first). */
export const cookieValue = (header: string | undefined, name: string): string | undefined => {
  for (const part of (header ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
};

const digest = (id: string) => createHash('sha256').update(id).digest('base64url');

/**
 * Browser sessions held in memory: a random 256-bit id in an HttpOnly, SameSite=Strict cookie maps
 * to the caller (name and role) of the token given at login; the token itself is not kept. Ids are
 * stored as their SHA-256, expire after `ttlMs`, and at most `max` live at once (the oldest goes
 * first). A restart logs everyone out, which is the point of keeping them in memory.
 */
export class Sessions {
  private readonly byDigest = new Map<string, { caller: SessionCaller; expiresAt: number }>();

  constructor(private readonly options: { ttlMs: number; max?: number }) {}

  get ttlMs() {
    return this.options.ttlMs;
  }

  open(caller: SessionCaller, now: number): string {
    const id = randomBytes(32).toString('base64url');
    this.byDigest.set(digest(id), { caller: { name: caller.name, role: caller.role }, expiresAt: now + this.options.ttlMs });
    if (this.byDigest.size > (this.options.max ?? 10_000)) this.byDigest.delete(this.byDigest.keys().next().value!);
    return id;
  }

  /** The caller of a live session; null for an unknown, malformed or expired id (an expired one is forgotten). */
  caller(id: string | undefined, now: number): SessionCaller | null {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const key = digest(id);
    const session = this.byDigest.get(key);
    if (!session) return null;
    if (session.expiresAt <= now) {
      this.byDigest.delete(key);
      return null;
    }
    return session.caller;
  }

  close(id: string | undefined): void {
    if (id) this.byDigest.delete(digest(id));
  }

  get size() {
    return this.byDigest.size;
  }
}
