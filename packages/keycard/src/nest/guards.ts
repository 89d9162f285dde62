import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { SessionManager } from '../core/manager.js';
import type { Principal } from '../core/record.js';
import type { Session } from '../core/session.js';
import { requestOf, sessionOf } from './binding.js';
import { httpErrorsOf, toHttpException } from './errors.js';
import { FRESH_AUTH_METADATA, PUBLIC_METADATA, ROLES_METADATA, RouteMetadata } from './metadata.js';

/** The request's session. */
function sessionIn(context: ExecutionContext): Session {
  return sessionOf(requestOf(context));
}

/** The signed-in principal, or the HTTP error that says why there is none (401, or 503 when the store is down). */
function signedInPrincipal(session: Session): Principal {
  const principal = httpErrorsOf(() => session.principal);
  if (principal === null) throw toHttpException('KEYCARD_UNAUTHENTICATED');
  return principal;
}

/**
 * Every route needs a signed-in session unless it is `@Public()`: 401 when
 * nobody is signed in, 503 when the session store cannot be reached.
 * Installed globally by `SessionModule` (option `guard: 'global'`, the
 * default); with `guard: 'none'` use it with `@UseGuards(SessionGuard)`.
 * Only HTTP requests are checked: WebSocket gateways authenticate at the
 * upgrade.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  private readonly isPublic: RouteMetadata<boolean>;

  constructor(reflector: Reflector) {
    this.isPublic = new RouteMetadata(reflector, PUBLIC_METADATA);
  }

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    if (this.isPublic.get(context)) return true;
    signedInPrincipal(sessionIn(context));
    return true;
  }
}

/**
 * Enforces `@Roles(...)`: 401 when nobody is signed in, 403
 * `KEYCARD_FORBIDDEN_ROLE` when the principal has none of the roles. Routes
 * without `@Roles` pass. `@Roles` applies it by itself; it can also be used
 * with `@UseGuards` or as a global guard.
 */
@Injectable()
export class RolesGuard implements CanActivate {
  private readonly roles: RouteMetadata<readonly string[]>;

  constructor(reflector: Reflector) {
    this.roles = new RouteMetadata(reflector, ROLES_METADATA);
  }

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const roles = this.roles.get(context);
    if (roles === undefined) return true;
    const principal = signedInPrincipal(sessionIn(context));
    if (roles.length > 0 && !roles.some((role) => principal.roles.includes(role))) {
      throw toHttpException('KEYCARD_FORBIDDEN_ROLE');
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
    if (context.getType() !== 'http') return true;
    const maxAgeMs = this.maxAgeMs.get(context);
    if (maxAgeMs === undefined) return true;
    const session = sessionIn(context);
    signedInPrincipal(session);
    const authenticatedAt = session.authenticatedAt;
    if (authenticatedAt === null || this.manager.now() - authenticatedAt > maxAgeMs) {
      throw toHttpException('KEYCARD_REAUTHENTICATE');
    }
    return true;
  }
}
