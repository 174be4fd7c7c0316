import { ArgumentsHost, Catch, RpcExceptionFilter } from '@nestjs/common';
import { Observable, throwError } from 'rxjs';

/**
 * Nest's default RPC filter turns any error into `{ message: 'Internal server error' }`. Event
 * handlers' errors are ours to read (they become retry logs and dead-letter reasons), so this
 * filter hands the original error to the transport unchanged. Register it on the microservice:
 * `microservice.useGlobalFilters(new PreserveEventErrorsFilter())`.
 */
@Catch()
export class PreserveEventErrorsFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}
