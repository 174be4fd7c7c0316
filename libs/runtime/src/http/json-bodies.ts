import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { DomainError } from '@continuity/contracts';

/** The largest JSON body any route accepts; larger ones are answered 413 before they are parsed. */
export const MAX_JSON_BODY = '1mb';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const hasBody = (request: Request) =>
  request.headers['transfer-encoding'] !== undefined || (request.headers['content-length'] !== undefined && request.headers['content-length'] !== '0');

/**
 * A cross-site HTML form can POST `application/x-www-form-urlencoded`, `multipart/form-data` or
 * `text/plain` from an operator's browser without a preflight; `application/json` it cannot. So a
 * write with any other body is refused (415) before it reaches a route.
 */
const refuseNonJsonBodies = (formPaths: ReadonlySet<string>) => (request: Request, _response: Response, next: NextFunction) => {
  if (!MUTATING.has(request.method) || !hasBody(request)) return next();
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') return next();
  if (type === 'application/x-www-form-urlencoded' && request.method === 'POST' && formPaths.has(request.path)) return next();
  return next(new DomainError('REQUEST.UNSUPPORTED_MEDIA_TYPE', `send the body as application/json (got ${type ? JSON.stringify(type.slice(0, 80)) : 'no content type'})`, 415));
};

/** The largest HTML form body (a login form: one token). */
export const MAX_FORM_BODY = '4kb';

/**
 * JSON bodies only, at most `MAX_JSON_BODY`: call on an app created with `bodyParser: false` (so
 * Nest's urlencoded parser is never installed). Errors reach the app's `HttpErrorFilter`.
 * `formPaths` (exact paths, POST only) also take a small HTML form: a login form, whose only
 * effect is a session for the token the form carries (so a forged one gains its sender nothing).
 */
export const acceptJsonBodiesOnly = (app: NestExpressApplication, formPaths: readonly string[] = []) => {
  app.use(refuseNonJsonBodies(new Set(formPaths)));
  app.useBodyParser('json', { limit: MAX_JSON_BODY });
  if (formPaths.length > 0) app.useBodyParser('urlencoded', { limit: MAX_FORM_BODY, extended: false, parameterLimit: 4 });
};
