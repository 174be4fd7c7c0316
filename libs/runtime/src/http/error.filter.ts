import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { throwError } from 'rxjs';
import { DomainError, FieldIssue } from '@continuity/contracts';

/**
 * The one body every service answers an error with (documented in the root README):
 * `statusCode` and a stable `code` to match on, a `message` for people, `issues` naming every bad
 * field when the input was at fault, and whatever ids or links the error carries.
 */
export interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
  issues?: FieldIssue[];
  [detail: string]: unknown;
}

const CODES: Record<number, string> = {
  400: 'REQUEST.INVALID',
  401: 'AUTH.UNAUTHENTICATED',
  403: 'AUTH.FORBIDDEN',
  404: 'REQUEST.NOT_FOUND',
  405: 'REQUEST.METHOD_NOT_ALLOWED',
  409: 'REQUEST.CONFLICT',
  413: 'REQUEST.TOO_LARGE',
  415: 'REQUEST.UNSUPPORTED_MEDIA_TYPE',
  503: 'SERVICE.UNAVAILABLE',
};
const codeFor = (status: number) => CODES[status] ?? (status >= 500 ? 'INTERNAL' : 'REQUEST.REFUSED');

/** `http-errors` raised by Express middleware (a body that is not JSON, too large, …): safe to show. */
const isExposedHttpError = (error: unknown): error is { status: number; message: string; type?: string } =>
  typeof error === 'object' && error !== null && (error as { expose?: unknown }).expose === true && typeof (error as { status?: unknown }).status === 'number';

/** Maps anything thrown by a route, guard or pipe to `ErrorBody`. Unknown errors are 500s whose details stay in the log. */
export const errorBody = (error: unknown): ErrorBody => {
  if (error instanceof DomainError) {
    return { statusCode: error.status, code: error.code, message: error.message, ...(error.issues ? { issues: error.issues } : {}), ...error.details };
  }
  if (error instanceof HttpException) {
    // Nest wraps a body that is not JSON (body-parser's error) in a BadRequestException.
    if (isExposedHttpError(error.cause)) return errorBody(error.cause);
    const statusCode = error.getStatus();
    const response = error.getResponse();
    if (typeof response === 'string') return { statusCode, code: codeFor(statusCode), message: response };
    const { statusCode: _status, error: _error, code, message, ...rest } = response as Record<string, unknown>;
    return {
      ...rest,
      statusCode,
      code: typeof code === 'string' ? code : codeFor(statusCode),
      message: Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : error.message,
    };
  }
  if (isExposedHttpError(error)) {
    return { statusCode: error.status, code: error.type === 'entity.parse.failed' ? 'REQUEST.MALFORMED' : codeFor(error.status), message: error.message };
  }
  return { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, code: 'INTERNAL', message: 'internal error (see the service log)' };
};

/**
 * One path from an error to HTTP for every service (registered by `createServiceApp`). Event
 * handlers' errors go back to the JetStream transport unchanged (Nest's RPC default would turn
 * them into "Internal server error"), so retry logs and dead-letter reasons say what really failed.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpErrorFilter');

  catch(exception: unknown, host: ArgumentsHost) {
    if (host.getType() === 'rpc') return throwError(() => exception);
    const body = errorBody(exception);
    if (body.statusCode >= 500 && !(exception instanceof DomainError) && !(exception instanceof HttpException)) {
      this.logger.error((exception as Error)?.stack ?? String(exception));
    }
    const response = host.switchToHttp().getResponse<Response>();
    if (response.headersSent) return undefined;
    response.status(body.statusCode).json(body);
    return undefined;
  }
}
