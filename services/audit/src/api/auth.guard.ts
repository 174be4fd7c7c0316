import { CanActivate, ExecutionContext, ForbiddenException, Inject, Injectable, SetMetadata, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { SERVICE_CONFIG } from '@continuity/runtime';
import { AuditConfig, AuditRole } from '../config/audit.config.js';

const ROLES = Symbol('ROLES');
/** Roles allowed on a route; routes without it are open (health, public key). */
export const Roles = (...roles: AuditRole[]) => SetMetadata(ROLES, roles);
/** Who may read the ledger, its proofs and reports. */
export const READERS: AuditRole[] = ['auditor', 'operator'];

/** Bearer tokens with roles from `AUDIT_TOKENS`: no or unknown token → 401, wrong role → 403. */
@Injectable()
export class AuditAuthGuard implements CanActivate {
  private readonly tokens: [Buffer, AuditRole][];

  constructor(
    private readonly reflector: Reflector,
    @Inject(SERVICE_CONFIG) config: AuditConfig,
  ) {
    this.tokens = [...config.AUDIT_TOKENS.entries()].map(([token, role]) => [Buffer.from(token), role]);
  }

  canActivate(context: ExecutionContext): boolean {
    const roles = this.reflector.getAllAndOverride<AuditRole[] | undefined>(ROLES, [context.getHandler(), context.getClass()]);
    if (!roles) return true;
    const header = context.switchToHttp().getRequest<Request>().headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new UnauthorizedException({ code: 'AUTH.TOKEN_MISSING', message: 'send Authorization: Bearer <token>' });
    const role = this.roleOf(Buffer.from(match[1]!));
    if (!role) throw new UnauthorizedException({ code: 'AUTH.TOKEN_UNKNOWN', message: 'unknown bearer token' });
    if (!roles.includes(role)) {
      throw new ForbiddenException({ code: 'AUTH.ROLE_FORBIDDEN', message: `this needs role ${roles.join(' or ')}; your token has ${role}` });
    }
    return true;
  }

  // Constant-time comparison: response timing must not reveal how much of a token matched.
  private roleOf(given: Buffer): AuditRole | undefined {
    let found: AuditRole | undefined;
    for (const [token, role] of this.tokens) if (token.length === given.length && timingSafeEqual(token, given)) found = role;
    return found;
  }
}
