import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { SessionManager } from '../core/manager.js';
import type { Principal } from '../core/record.js';
import { UnsupportedContextError, callerSessionOf, handlerName, isSocketSession, transportOf, type Transport } from './context.js';
import { refusalFor, transportErrorsOf } from './errors.js';
import { FRESH_AUTH_METADATA, PUBLIC_METADATA, ROLES_METADATA, RouteMetadata } from './metadata.js';

/** The context's transport; throws `UnsupportedContextError` for any other. */
function understood(context: ExecutionContext, guard: string): Transport {
  const transport = transportOf(context);
  if (transport === null) {
    throw new UnsupportedContextError(
      context,
      `${guard} cannot check "${context.getType<string>()}" execution contexts`,
      guard === 'SessionGuard'
        ? "Mark the handler @Public() if it needs no session, or set `guard: 'none'` in SessionModule options and protect it with a guard of your own."
        : "Remove the decorator that needs it from this handler, or set `guard: 'none'` and protect the handler with a guard of your own.",
    );
  }
  return transport;
}

/** RPC handlers carry no session: a guard that needs one refuses them, and says so. */
function refuseRpc(context: ExecutionContext, needs: string): never {
  throw refusalFor(
    'rpc',
    'KEYCARD_UNAUTHENTICATED',
    `keycard: microservice (RPC) handlers carry no session, so ${needs} refuses ${handlerName(context)}. ` +
      'Mark it @Public() when any client that reaches the transport may call it (secure the transport itself), ' +
      'and pass the caller\'s identity in the message if the handler needs one.',
  );
}

/**
 * The caller's signed-in principal and last sign-in time, or the refusal
 * that says why there is none (401, or 503 when the store is down), shaped
 * for the transport. A socket whose session ended counts as signed out.
 */
function signedIn(context: ExecutionContext, transport: Transport): { principal: Principal; authenticatedAt: number | null } {
  const session = callerSessionOf(context);
  if (isSocketSession(session)) {
    if (session.ended) throw refusalFor(transport, 'KEYCARD_UNAUTHENTICATED');
    return { principal: session.principal, authenticatedAt: session.authenticatedAt };
  }
  const principal = transportErrorsOf(transport, () => session.principal);
  if (principal === null) throw refusalFor(transport, 'KEYCARD_UNAUTHENTICATED');
  return { principal, authenticatedAt: session.authenticatedAt };
}

/**
 * Every handler needs a signed-in session unless it is `@Public()`: HTTP
 * routes, GraphQL resolvers (the request's session), WebSocket and
 * socket.io message handlers (the socket's session). Refusals: 401 (GraphQL
 * `UNAUTHENTICATED`), 503 when the session store cannot be reached.
 * Microservice (RPC) handlers carry no session: refused unless `@Public()`.
 * Any other context type is refused unless `@Public()`.
 *
 * Installed globally by `SessionModule` (option `guard: 'global'`, the
 * default); with `guard: 'none'` use it with `@UseGuards(SessionGuard)`.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  private readonly isPublic: RouteMetadata<boolean>;

  constructor(reflector: Reflector) {
    this.isPublic = new RouteMetadata(reflector, PUBLIC_METADATA);
  }

  canActivate(context: ExecutionContext): boolean {
    // `@Public()` is the handler's own decision that no session is needed, whatever the transport.
    if (this.isPublic.get(context)) return true;
    const transport = understood(context, 'SessionGuard');
    if (transport === 'rpc') refuseRpc(context, 'the global SessionGuard');
    signedIn(context, transport);
    return true;
  }
}

/**
 * Enforces `@Roles(...)`: 401 when nobody is signed in, 403
 * `KEYCARD_FORBIDDEN_ROLE` (GraphQL `FORBIDDEN`) when the principal has
 * none of the roles. Handlers without `@Roles` pass. `@Roles` applies it by
 * itself; it can also be used with `@UseGuards` or as a global guard.
 */
@Injectable()
export class RolesGuard implements CanActivate {
  private readonly roles: RouteMetadata<readonly string[]>;

  constructor(reflector: Reflector) {
    this.roles = new RouteMetadata(reflector, ROLES_METADATA);
  }

  canActivate(context: ExecutionContext): boolean {
    const transport = understood(context, 'RolesGuard');
    const roles = this.roles.get(context);
    if (roles === undefined) return true;
    if (transport === 'rpc') refuseRpc(context, '@Roles()');
    const { principal } = signedIn(context, transport);
    if (roles.length > 0 && !roles.some((role) => principal.roles.includes(role))) {
      throw refusalFor(transport, 'KEYCARD_FORBIDDEN_ROLE');
    }
    return true;
  }
}

/**
 * Enforces `@RequireFreshAuth(seconds)`: 401 when nobody is signed in, 403
 * `KEYCARD_REAUTHENTICATE` when the last sign-in is older than allowed
 * (measured on the session manager's clock).
 */
@Injectable()
export class FreshAuthGuard implements CanActivate {
  private readonly maxAgeMs: RouteMetadata<number>;

  constructor(
    reflector: Reflector,
    private readonly manager: SessionManager,
  ) {
    this.maxAgeMs = new RouteMetadata(reflector, FRESH_AUTH_METADATA);
  }

  canActivate(context: ExecutionContext): boolean {
    const transport = understood(context, 'FreshAuthGuard');
    const maxAgeMs = this.maxAgeMs.get(context);
    if (maxAgeMs === undefined) return true;
    if (transport === 'rpc') refuseRpc(context, '@RequireFreshAuth()');
    const { authenticatedAt } = signedIn(context, transport);
    if (authenticatedAt === null || this.manager.now() - authenticatedAt > maxAgeMs) {
      throw refusalFor(transport, 'KEYCARD_REAUTHENTICATE');
    }
    return true;
  }
}
