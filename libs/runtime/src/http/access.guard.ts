import { CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { DomainError } from '@continuity/contracts';
import { grants, Role } from './access-tokens.js';
import { Authenticator, Caller } from './authenticator.js';

const ACCESS = Symbol('ACCESS');
type Access = { roles: readonly Role[] } | 'public';

/** The roles that may call a route (any one of them, or a role that includes it). */
export const Roles = (...roles: [Role, ...Role[]]) => SetMetadata(ACCESS, { roles } satisfies Access);
/** A route anyone may call without a token (health, metrics, the audit public key). */
export const Public = () => SetMetadata(ACCESS, 'public' satisfies Access);

export type { Caller };
export type AuthenticatedRequest = Request & { caller: Caller };

/** The caller of the current request, for handlers that record who asked. */
export const CurrentCaller = createParamDecorator((_: unknown, context: ExecutionContext): Caller => context.switchToHttp().getRequest<AuthenticatedRequest>().caller);

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The one HTTP guard of every service (registered globally by `RuntimeModule`). Deny by default: a
 * route without `@Public()` needs a bearer token; without `@Roles(…)` a read needs `viewer` and
 * anything else `operator`, and a mutating method needs `operator` whatever its decorator says.
 * No or unknown token → 401, known token without the role → 403. A read may also carry the
 * session cookie of the audit status page's login instead of a token. An address that sent
 * `CONTINUITY_AUTH_MAX_FAILURES` unknown tokens within `CONTINUITY_AUTH_WINDOW_MS` gets 429 with
 * `Retry-After` before any token is looked at.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(Authenticator) private readonly authenticator: Authenticator,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    // Event handlers share the app's global guards; their callers are vouched for by the bus.
    if (context.getType() !== 'http') return true;
    const access = this.reflector.getAllAndOverride<Access | undefined>(ACCESS, [context.getHandler(), context.getClass()]);
    if (access === 'public') return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const response = context.switchToHttp().getResponse<Response>();
    const mutating = !SAFE_METHODS.has(request.method);
    const declared = access?.roles ?? [mutating ? 'operator' : 'viewer'];
    // A write needs operator whatever its decorator says: a slip in a decorator cannot open it.
    const writers = declared.filter((role) => grants(role, 'operator'));
    const needed: readonly Role[] = !mutating ? declared : writers.length > 0 ? writers : ['operator'];

    // Express's view of the peer (X-Forwarded-For is not trusted: it is the caller's to forge).
    const address = request.ip ?? request.socket.remoteAddress ?? 'unknown';
    const now = Date.now();
    this.authenticator.refuseIfThrottled(address, now, (wait) => response.setHeader('Retry-After', String(wait)));
    response.setHeader('WWW-Authenticate', 'Bearer');
    if (!this.authenticator.hasTokens) {
      throw new DomainError('AUTH.NO_TOKENS', 'no tokens are configured (CONTINUITY_TOKENS or CONTINUITY_TOKENS_FILE): only health and metrics are open', 401);
    }
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
    // A browser session (the audit status page's login) is good for reads only: a write needs the
    // bearer token, which no other site can make a browser send.
    const session = !match && !mutating ? this.authenticator.bySession(request.headers.cookie, now) : null;
    // A request without a token guesses nothing: only unknown tokens count as failed attempts.
    if (!match && !session) throw new DomainError('AUTH.TOKEN_MISSING', 'send Authorization: Bearer <token>', 401);
    const caller = session ?? this.authenticator.byToken(match![1]!, address, now);
    if (!caller) throw new DomainError('AUTH.TOKEN_UNKNOWN', 'unknown bearer token', 401);
    response.removeHeader('WWW-Authenticate');
    if (!needed.some((role) => grants(caller.role, role))) {
      throw new DomainError('AUTH.ROLE_FORBIDDEN', `this needs role ${needed.join(' or ')}; your token has ${caller.role}`, 403);
    }
    request.caller = caller;
    return true;
  }
}
