import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { DomainError } from '@continuity/contracts';
import { BaseConfig, hashToken, OperatorToken } from '../config.js';
import { SERVICE_CONFIG } from '../tokens.js';

/** The request of a route behind `OperatorGuard`: who the operator is. */
export type OperatorRequest = Request & { operator: string };

/**
 * Bearer tokens from `CONTINUITY_OPERATOR_TOKENS` (`name:token,…`), for the operator routes every
 * service serves (`/dlq`). No tokens configured, none sent or an unknown one: 401; never open.
 */
@Injectable()
export class OperatorGuard implements CanActivate {
  private readonly tokens: OperatorToken[];

  constructor(@Inject(SERVICE_CONFIG) config: BaseConfig) {
    this.tokens = config.CONTINUITY_OPERATOR_TOKENS;
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<OperatorRequest>();
    if (this.tokens.length === 0) {
      throw new DomainError('AUTH.NO_OPERATORS', 'no operator tokens are configured (CONTINUITY_OPERATOR_TOKENS): operator routes are closed', 401);
    }
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
    if (!match) throw new DomainError('AUTH.TOKEN_MISSING', 'send Authorization: Bearer <operator token>', 401);
    const name = this.operatorOf(match[1]!);
    if (!name) throw new DomainError('AUTH.TOKEN_UNKNOWN', 'unknown bearer token', 401);
    request.operator = name;
    return true;
  }

  // Hashes compared in constant time (equal lengths whatever was sent), every token checked: the
  // response time says nothing about how much of a token matched, or which one.
  private operatorOf(given: string): string | undefined {
    const hash = hashToken(given);
    let found: string | undefined;
    for (const token of this.tokens) if (timingSafeEqual(token.sha256, hash)) found = token.name;
    return found;
  }
}
