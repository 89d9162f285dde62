import { Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { CsrfFailure } from '../../core/csrf.js';
import { SessionManager } from '../../core/manager.js';
import { requestOf, sessionOf, type RequestLike } from '../binding.js';
import { httpErrorsOf, toHttpException, type SessionAccessCode } from '../errors.js';
import { RouteMetadata } from '../metadata.js';
import { CsrfService } from './csrf.service.js';

const SKIP_CSRF_METADATA = Symbol('keycard:skip-csrf');

/**
 * Exempts a route or a whole controller from the CSRF check: webhooks signed
 * by their sender, endpoints that take credentials in the body and set no
 * cookie. Cookie-authenticated forms must never be exempted.
 */
export const SkipCsrf = (): ClassDecorator & MethodDecorator => SetMetadata(SKIP_CSRF_METADATA, true);

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
  private readonly skip: RouteMetadata<boolean>;

  constructor(
    reflector: Reflector,
    private readonly csrf: CsrfService,
    private readonly manager: SessionManager,
  ) {
    this.skip = new RouteMetadata(reflector, SKIP_CSRF_METADATA);
  }

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    if (this.skip.get(context)) return true;
    const request = requestOf(context);
    const failure = httpErrorsOf(() => this.csrf.check(request));
    if (failure !== null) {
      this.report(request, CODES[failure]);
      throw toHttpException(CODES[failure]);
    }
    return true;
  }

  /** The `csrfRefused` audit event, with the device as the request's session sees it. */
  private report(request: RequestLike, code: SessionAccessCode): void {
    let session: ReturnType<typeof sessionOf> | null = null;
    try {
      session = sessionOf(request);
    } catch {
      // No session loaded on this request: the event still goes out, without the device.
    }
    const snapshot = session?.available ? session.snapshot : null;
    this.manager.events.emit({
      type: 'csrfRefused',
      handle: snapshot?.handle ?? null,
      userId: snapshot?.principal?.id ?? null,
      at: this.manager.now(),
      reason: code,
      ...(session?.transport ? { transport: session.transport } : {}),
      ip: snapshot?.ip ?? session?.client.ip ?? null,
      userAgent: snapshot?.userAgent ?? session?.client.userAgent ?? null,
    });
  }
}
