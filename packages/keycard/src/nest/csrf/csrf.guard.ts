import { Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { CsrfFailure } from '../../core/csrf.js';
import { requestOf } from '../binding.js';
import { httpErrorsOf, toHttpException, type SessionAccessCode } from '../errors.js';
import { RouteMetadata } from '../metadata.js';
import { CsrfService } from './csrf.service.js';

const SKIP_CSRF_METADATA = Symbol('keycard:skip-csrf');

/**
 * Exempts a route or a whole controller from the CSRF check. `'all'`
 * (default): webhooks signed by their sender. `'token'`: no token is needed,
 * but the Origin and Sec-Fetch-Site rules still refuse cross-site requests:
 * endpoints that take credentials in the body and set no cookie (a token
 * endpoint for CLIs), which a forged cross-site request could otherwise use
 * to guess passwords on a victim's behalf. Cookie-authenticated forms must
 * never be exempted.
 */
export const SkipCsrf = (part: 'all' | 'token' = 'all'): ClassDecorator & MethodDecorator => SetMetadata(SKIP_CSRF_METADATA, part);

const CODES: Readonly<Record<CsrfFailure, SessionAccessCode>> = {
  'cross-site': 'KEYCARD_CSRF_CROSS_SITE',
  missing: 'KEYCARD_CSRF_MISSING',
  invalid: 'KEYCARD_CSRF_INVALID',
};

/**
 * Refuses unsafe requests (anything but GET, HEAD, OPTIONS, TRACE) that may
 * be cross-site forgeries: 403 `KEYCARD_CSRF_CROSS_SITE` (Origin or
 * Sec-Fetch-Site), `KEYCARD_CSRF_MISSING` or `KEYCARD_CSRF_INVALID` (token);
 * 503 when the session store is down. Bearer requests and `@SkipCsrf()`
 * routes pass.
 *
 * Placement: installed globally by `CsrfModule` (option `guard: 'global'`,
 * the default), so every route is protected unless it opts out. Global
 * guards run after the session is loaded (keycard loads it before any guard,
 * in a middleware or `onRequest` hook) and before route guards such as
 * passport's `AuthGuard('local')`, so a forged sign-in never reaches the
 * strategy. It checks `@Public()` routes too: sign-in and registration are
 * exactly the forms that need the pre-session token.
 */
@Injectable()
export class CsrfGuard implements CanActivate {
  private readonly skip: RouteMetadata<'all' | 'token'>;

  constructor(
    reflector: Reflector,
    private readonly csrf: CsrfService,
  ) {
    this.skip = new RouteMetadata(reflector, SKIP_CSRF_METADATA);
  }

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const skip = this.skip.get(context);
    if (skip === 'all') return true;
    const request = requestOf(context);
    const failure = httpErrorsOf(() => (skip === 'token' ? this.csrf.checkOrigin(request) : this.csrf.check(request)));
    if (failure !== null) throw toHttpException(CODES[failure]);
    return true;
  }
}
