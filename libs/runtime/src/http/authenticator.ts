import { Inject, Injectable } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import { DomainError } from '@continuity/contracts';
import type { BaseConfig } from '../config.js';
import { SERVICE_CONFIG } from '../tokens.js';
import { AccessToken, accessTokensOf, hashToken, Role } from './access-tokens.js';
import { FailedAttempts } from './failed-attempts.js';
import { cookieValue, SESSION_COOKIE, Sessions } from './sessions.js';

/** Who made a request: the token's name and role. */
export interface Caller {
  name: string;
  role: Role;
}

/** How long a browser session opened with a token lasts. */
export const SESSION_TTL_MS = 8 * 3_600_000;

/**
 * Who is calling, for the guard and for the one login form (the audit status page): bearer tokens
 * checked against their hashes in constant time, unknown tokens counted per address (429 after
 * `CONTINUITY_AUTH_MAX_FAILURES` in the window), and browser sessions opened with a token.
 */
@Injectable()
export class Authenticator {
  private readonly tokens: AccessToken[];
  private readonly failures: FailedAttempts;
  readonly sessions = new Sessions({ ttlMs: SESSION_TTL_MS });

  constructor(@Inject(SERVICE_CONFIG) config: BaseConfig) {
    this.tokens = accessTokensOf(config);
    this.failures = new FailedAttempts({ max: config.CONTINUITY_AUTH_MAX_FAILURES, windowMs: config.CONTINUITY_AUTH_WINDOW_MS });
  }

  get hasTokens() {
    return this.tokens.length > 0;
  }

  /** Seconds an address must wait before it may try a token again (0: now). */
  retryAfterSeconds(address: string, now: number): number {
    return this.failures.retryAfterSeconds(address, now);
  }

  /** Throws 429 `AUTH.TOO_MANY_ATTEMPTS` (with the wait) when the address sent too many unknown tokens. */
  refuseIfThrottled(address: string, now: number, setRetryAfter: (seconds: number) => void): void {
    const wait = this.retryAfterSeconds(address, now);
    if (wait <= 0) return;
    setRetryAfter(wait);
    throw new DomainError('AUTH.TOO_MANY_ATTEMPTS', `too many unknown tokens from this address; try again in ${wait} s`, 429);
  }

  /** The caller a token belongs to; an unknown one counts as a failed attempt of `address`. */
  byToken(given: string, address: string, now: number): Caller | null {
    const token = this.tokenOf(given);
    if (!token) {
      this.failures.record(address, now);
      return null;
    }
    return { name: token.name, role: token.role };
  }

  /** The caller of the session named by a request's `Cookie` header, if it is live. */
  bySession(cookieHeader: string | undefined, now: number): Caller | null {
    return this.sessions.caller(cookieValue(cookieHeader, SESSION_COOKIE), now);
  }

  // Hashes compared in constant time (equal lengths whatever was sent), every token checked: the
  // response time says nothing about how much of a token matched, or which one.
  private tokenOf(given: string): AccessToken | undefined {
    const hash = hashToken(given);
    let found: AccessToken | undefined;
    for (const token of this.tokens) if (timingSafeEqual(token.sha256, hash)) found = token;
    return found;
  }
}
