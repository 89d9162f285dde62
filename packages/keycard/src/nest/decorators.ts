import { SetMetadata, UseGuards, applyDecorators, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { InvalidOptionsError } from '../core/errors.js';
import type { Principal } from '../core/record.js';
import type { Session as KeycardSession } from '../core/session.js';
import type { SocketSession } from '../ws/registry.js';
import { callerSessionOf, isSocketSession } from './context.js';
import { FreshAuthGuard, RolesGuard } from './guards.js';
import { FRESH_AUTH_METADATA, PUBLIC_METADATA, ROLES_METADATA } from './metadata.js';

/**
 * The caller's keycard session (not Nest's `@Session()`, which reads
 * `req.session`): the request's `Session` in HTTP handlers and GraphQL
 * resolvers (queries and mutations; the same object in every resolver of one
 * operation), the socket's read-only `SocketSession` in WebSocket and
 * socket.io message handlers and in GraphQL subscriptions. Throws in
 * microservice handlers, which carry no session.
 */
export const Session: () => ParameterDecorator = createParamDecorator(
  (_data: unknown, context: ExecutionContext): KeycardSession | SocketSession => callerSessionOf(context),
);

/**
 * The signed-in `Principal`, or null (only possible on `@Public()` handlers),
 * on HTTP, GraphQL and WebSocket handlers alike: never the resolver's parent
 * object. Throws in microservice handlers, which carry no session.
 */
export const CurrentUser: () => ParameterDecorator = createParamDecorator((_data: unknown, context: ExecutionContext): Principal | null => {
  const session = callerSessionOf(context);
  if (isSocketSession(session)) return session.ended ? null : session.principal;
  return session.principal;
});

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
