import { Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { CsrfFailure } from '../../core/csrf.js';
import { SessionManager } from '../../core/manager.js';
import { sessionOf, type RequestLike } from '../platform.js';
import { UnsupportedContextError, findSocketSession, graphqlOperationOf, graphqlRequestOf, graphqlSocketOf, requestOf, transportOf } from '../context.js';
import { refusalFor, transportErrorsOf, type SessionAccessCode } from '../errors.js';
import { RouteMetadata } from '../metadata.js';
import { CsrfService } from './csrf.service.js';

const SKIP_CSRF_METADATA = Symbol('keycard:skip-csrf');

/**
 * Exempts a route or a whole controller from the CSRF check. `'all'`
 * (default): webhooks signed by their sender. `'token'` (HTTP): no token is
 * needed, but the Origin and Sec-Fetch-Site rules still refuse cross-site
 * requests: endpoints that take credentials in the body and set no cookie (a
 * token endpoint for CLIs), which a forged cross-site request could otherwise
 * use to guess passwords on a victim's behalf. Cookie-authenticated forms
 * must never be exempted.
 */
export const SkipCsrf = (part: 'all' | 'token' = 'all'): ClassDecorator & MethodDecorator => SetMetadata(SKIP_CSRF_METADATA, part);

const GRAPHQL_ADVICE =
  "Keep the driver's default context (it carries `req`) or return `req` from your context function; serve subscriptions with keycard's graphql-ws hooks.";
const SOCKET_ADVICE =
  'Serve the gateway with `KeycardWsAdapter` (keycard/nest/ws) or `KeycardIoAdapter` (keycard/nest/socket.io), or mark the handler @SkipCsrf().';

const CODES: Readonly<Record<CsrfFailure, SessionAccessCode>> = {
  'cross-site': 'KEYCARD_CSRF_CROSS_SITE',
  missing: 'KEYCARD_CSRF_MISSING',
  invalid: 'KEYCARD_CSRF_INVALID',
  'simple-content-type': 'KEYCARD_CSRF_CONTENT_TYPE',
  'get-mutation': 'KEYCARD_CSRF_GET_MUTATION',
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
 *
 * Per transport: GraphQL operations over HTTP follow `checkGraphql` (no
 * form-encoded or text/plain bodies, no GET mutations, mutations need the
 * token); GraphQL subscriptions and WebSocket / socket.io messages were
 * checked at the handshake (keycard's adapters refuse a cross-site Origin);
 * microservice (RPC) messages carry no browser credential, so CSRF does not
 * apply to them. Any other context type is refused unless `@SkipCsrf()`.
 */
@Injectable()
export class CsrfGuard implements CanActivate {
  private readonly skip: RouteMetadata<'all' | 'token'>;

  constructor(
    reflector: Reflector,
    private readonly csrf: CsrfService,
    private readonly manager: SessionManager,
  ) {
    this.skip = new RouteMetadata(reflector, SKIP_CSRF_METADATA);
  }

  canActivate(context: ExecutionContext): boolean {
    const skip = this.skip.get(context);
    if (skip === 'all') return true;
    const transport = transportOf(context);
    let failure: CsrfFailure | null;
    switch (transport) {
      case 'http': {
        const request = requestOf(context);
        failure = transportErrorsOf('http', () => (skip === 'token' ? this.csrf.checkOrigin(request) : this.csrf.check(request)));
        break;
      }
      case 'graphql': {
        // A subscription over a socket keycard authenticated: its Origin was checked at the handshake.
        if (graphqlSocketOf(context) !== undefined) return true;
        const request = graphqlRequestOf(context);
        if (request === undefined) {
          throw new UnsupportedContextError(context, 'CsrfGuard finds neither an HTTP request nor a keycard socket in this GraphQL context', GRAPHQL_ADVICE);
        }
        failure = transportErrorsOf('graphql', () => this.csrf.checkGraphql(request, graphqlOperationOf(context)));
        break;
      }
      case 'ws':
        // The Origin was checked at the handshake, by keycard's adapter: only its sockets pass.
        if (findSocketSession(context.getArgByIndex<object>(0)) !== undefined) return true;
        throw new UnsupportedContextError(context, 'CsrfGuard cannot vouch for a socket that keycard\'s adapter did not open (its Origin was never checked)', SOCKET_ADVICE);
      case 'rpc':
        return true;
      default:
        throw new UnsupportedContextError(
          context,
          `CsrfGuard cannot check "${context.getType<string>()}" execution contexts`,
          "Mark the handler @SkipCsrf() if it takes no browser credentials, or set the csrf option `guard: 'none'` and protect it yourself.",
        );
    }
    if (failure !== null) {
      this.report(transport === 'graphql' ? graphqlRequestOf(context) : requestOf(context), CODES[failure]);
      throw refusalFor(transport, CODES[failure]);
    }
    return true;
  }

  /** The `csrfRefused` audit event, with the device as the request's session sees it. */
  private report(request: RequestLike | undefined, code: SessionAccessCode): void {
    let session: ReturnType<typeof sessionOf> | null = null;
    try {
      if (request !== undefined) session = sessionOf(request);
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
