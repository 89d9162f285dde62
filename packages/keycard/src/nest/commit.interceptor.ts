import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { SessionBinding } from './binding.js';
import { requestOf, responseOf } from './context.js';

/**
 * Express only (Fastify commits in its `onSend` hook): stores the session
 * after the handler and every interceptor inside this one are done, and
 * before Nest sends the answer, for returned values, `@Redirect()`,
 * `@Render()` and thrown exceptions alike. The exception still reaches the
 * filters, and its response carries the commit's headers (a handler that
 * signs out and then throws still clears the cookie).
 */
@Injectable()
export class SessionCommitInterceptor implements NestInterceptor {
  constructor(private readonly binding: SessionBinding) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (this.binding.platform !== 'express' || context.getType() !== 'http') return next.handle();
    const request = requestOf(context);
    const response = responseOf(context);
    const binding = this.binding;
    const source = next.handle();
    // A hand-written operator (one subscriber per request rather than a chain of rxjs
    // operators). Values pass through at once (server-sent events keep streaming);
    // completion and errors wait for the commit, and Nest replies on completion.
    return new Observable<unknown>((subscriber) => {
      const settle = (failure: { error: unknown } | null): void => {
        // A read that wrote nothing (most traffic) settles at once, without a promise.
        if (!binding.needsCommit(request)) {
          if (failure) subscriber.error(failure.error);
          else subscriber.complete();
          return;
        }
        binding.commit(request, response).then(
          () => (failure ? subscriber.error(failure.error) : subscriber.complete()),
          (commitError: unknown) => subscriber.error(commitError),
        );
      };
      return source.subscribe({
        next: (value) => subscriber.next(value),
        error: (error: unknown) => settle({ error }),
        complete: () => settle(null),
      });
    });
  }
}
