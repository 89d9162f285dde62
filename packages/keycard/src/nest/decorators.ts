import { SetMetadata, UseGuards, applyDecorators, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { InvalidOptionsError } from '../core/errors.js';
import type { Principal } from '../core/record.js';
import type { Session as KeycardSession } from '../core/session.js';
import { requestOf, sessionOf } from './binding.js';
import { FreshAuthGuard, RolesGuard } from './guards.js';
import { FRESH_AUTH_METADATA, PUBLIC_METADATA, ROLES_METADATA } from './metadata.js';

/** The request's keycard `Session` (not Nest's `@Session()`, which reads `req.session`). */
export const Session: () => ParameterDecorator = createParamDecorator(
  (_data: unknown, context: ExecutionContext): KeycardSession => sessionOf(requestOf(context)),
);

/** The signed-in `Principal`, or null (only possible on `@Public()` routes). */
export const CurrentUser: () => ParameterDecorator = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Principal | null => sessionOf(requestOf(context)).principal,
);

/** Lets anonymous requests through the global `SessionGuard`. `@Roles` and `@RequireFreshAuth` still apply. */
export const Public = (): ClassDecorator & MethodDecorator => SetMetadata(PUBLIC_METADATA, true);

/**
 * Signed in with at least one of `roles` (none given: signed in at all), else
 * 403 `KEYCARD_FORBIDDEN_ROLE` (401 when not signed in). Brings its own guard,
 * so it holds with `guard: 'none'` too; a method's `@Roles` replaces its class's.
 */
export function Roles(...roles: string[]): ClassDecorator & MethodDecorator {
  for (const role of roles) {
    if (typeof role !== 'string' || role.length === 0) throw new InvalidOptionsError('keycard: @Roles() takes non-empty role names');
  }
  return applyDecorators(SetMetadata(ROLES_METADATA, Object.freeze([...roles])), UseGuards(RolesGuard));
}

/**
 * Signed in within the last `maxAgeSeconds` (sign-in or re-authentication),
 * else 403 `KEYCARD_REAUTHENTICATE` (401 when not signed in). For sensitive
 * actions; signing in again issues a new session id.
 */
export function RequireFreshAuth(maxAgeSeconds: number): ClassDecorator & MethodDecorator {
  if (typeof maxAgeSeconds !== 'number' || !Number.isFinite(maxAgeSeconds) || maxAgeSeconds <= 0) {
    throw new InvalidOptionsError(`keycard: @RequireFreshAuth() needs a positive number of seconds, got ${String(maxAgeSeconds)}`);
  }
  return applyDecorators(SetMetadata(FRESH_AUTH_METADATA, maxAgeSeconds * 1000), UseGuards(FreshAuthGuard));
}
