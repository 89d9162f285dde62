import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { Observable } from 'rxjs';
import type { AnyResponse } from './platform-request.js';

/**
 * Every answer of a route is `Cache-Control: no-store` unless the route set
 * its own (the stylesheet does): the JSON API answers with personal data
 * (/api/auth/me, the session lists, the CSRF token, the admin routes) that a
 * shared cache or the back button must never replay. Set before the handler
 * runs, so errors thrown by it carry the header too.
 */
@Injectable()
export class NoStoreInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') {
      const response = context.switchToHttp().getResponse<AnyResponse>();
      if (response.getHeader('cache-control') === undefined) response.header('Cache-Control', 'no-store');
    }
    return next.handle();
  }
}
