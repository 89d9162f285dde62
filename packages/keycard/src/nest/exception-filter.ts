import { Catch, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { throwError } from 'rxjs';
import { KeycardError } from '../core/errors.js';
import { responseOf, transportOf } from './context.js';
import { SessionAccessError, toAccessError, toHttpException } from './errors.js';

/**
 * Answers every `KeycardError` that reaches Nest's exception layer (a store
 * outage while a handler reads the session, a refused sign-in, a throttled
 * one with its `Retry-After`, ...) through `toHttpException`, with the
 * exception's `headers`. Registered globally by `SessionModule`. An application
 * with its own catch-all filter should call `toHttpException` for
 * `KeycardError`s there (and set the result's `headers`), since Nest runs
 * only one filter per exception.
 *
 * Outside HTTP: a GraphQL resolver gets the `SessionAccessError` (a GraphQL
 * error with `extensions.code` and `extensions.keycardCode`, never Apollo's
 * generic INTERNAL_SERVER_ERROR with the internal message), a microservice
 * client gets `{ status: 'error', statusCode, code, message }`. Gateways
 * have no global filters in Nest; keycard's guards answer them themselves.
 */
@Catch(KeycardError)
export class SessionExceptionFilter implements ExceptionFilter<KeycardError> {
  private readonly logger = new Logger('keycard');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(error: KeycardError, host: ArgumentsHost): unknown {
    const access = error instanceof SessionAccessError ? error : toAccessError(error);
    if (access.status >= 500 && access.status !== 503) this.logger.error(error.message, error.stack);
    switch (transportOf(host)) {
      case 'http':
        return this.replyHttp(error, host);
      case 'graphql':
        // graphql-js turns a resolver's returned Error into a field error.
        return access;
      case 'rpc': {
        const body = access.body;
        return throwError(() => body);
      }
      default:
        // Not handled: Nest's own handler for the transport takes it.
        return undefined;
    }
  }

  private replyHttp(error: KeycardError, host: ArgumentsHost): void {
    const exception = toHttpException(error);
    const response: unknown = responseOf(host);
    const adapter = this.adapterHost.httpAdapter;
    if (adapter.isHeadersSent(response)) return;
    for (const [name, value] of Object.entries(exception.headers)) adapter.setHeader(response, name, value);
    adapter.reply(response, exception.getResponse(), exception.getStatus());
  }
}
