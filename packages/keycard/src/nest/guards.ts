import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { KeycardError } from '../core/errors.js';
import { SessionManager } from '../core/manager.js';
import type { Principal } from '../core/record.js';
import { sessionOf, type RequestLike } from './binding.js';
import { toHttpException } from './errors.js';
import { FRESH_AUTH_METADATA, PUBLIC_METADATA, ROLES_METADATA } from './metadata.js';

/** The signed-in principal, or the HTTP error that says why there is none (401, or 503 when the store is down). */
function signedInPrincipal(context: ExecutionContext): Principal {
  const session = sessionOf(context.switchToHttp().getRequest<RequestLike>());
  let principal: Principal | null;
  try {
    principal = session.principal;
  } catch (error) {
    if (error instanceof KeycardError) throw toHttpException(error);
    throw error;
  }
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
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    if (this.reflector.getAllAndOverride<boolean | undefined>(PUBLIC_METADATA, [context.getHandler(), context.getClass()])) {
      return true;
    }
    signedInPrincipal(context);
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
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const roles = this.reflector.getAllAndOverride<readonly string[] | undefined>(ROLES_METADATA, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (roles === undefined) return true;
    const principal = signedInPrincipal(context);
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
  constructor(
    private readonly reflector: Reflector,
    private readonly manager: SessionManager,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const maxAgeMs = this.reflector.getAllAndOverride<number | undefined>(FRESH_AUTH_METADATA, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (maxAgeMs === undefined) return true;
    signedInPrincipal(context);
    const authenticatedAt = sessionOf(context.switchToHttp().getRequest<RequestLike>()).authenticatedAt;
    if (authenticatedAt === null || this.manager.now() - authenticatedAt > maxAgeMs) {
      throw toHttpException('KEYCARD_REAUTHENTICATE');
    }
    return true;
  }
}
