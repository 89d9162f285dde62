import type { Principal } from 'keycard';
import type { UserRow } from '../database/schema.js';

/** What the API shows of a user: never the hash, never the auth version. */
export interface PublicUser {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly roles: readonly string[];
}

export function publicUser(row: UserRow): PublicUser {
  return { id: row.id, email: row.email, name: row.name, roles: row.roles };
}

/**
 * The principal kept in the session. Email and name ride along as claims so
 * that pages and /api/auth/me need no query per request.
 */
export function principalOf(row: UserRow): Principal {
  return { id: row.id, roles: row.roles, authVersion: row.authVersion, claims: { email: row.email, name: row.name } };
}

/** The public user as the session knows it (claims), for requests that do not query. */
export function userOfPrincipal(principal: Principal): PublicUser {
  const claims = principal.claims ?? {};
  return {
    id: principal.id,
    email: typeof claims['email'] === 'string' ? claims['email'] : '',
    name: typeof claims['name'] === 'string' ? claims['name'] : '',
    roles: principal.roles,
  };
}
