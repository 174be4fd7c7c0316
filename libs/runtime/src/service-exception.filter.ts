import { ArgumentsHost, Catch } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import { throwError } from 'rxjs';

/**
 * HTTP errors keep Nest's usual responses; event handlers' errors reach the JetStream transport
 * unchanged (Nest's RPC default would turn them into "Internal server error"), so retry logs and
 * dead-letter reasons say what really failed.
 */
@Catch()
export class ServiceExceptionFilter extends BaseExceptionFilter {
  override catch(exception: unknown, host: ArgumentsHost) {
    if (host.getType() === 'rpc') return throwError(() => exception);
    return super.catch(exception, host);
  }
}
