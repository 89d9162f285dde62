import { csrfTokenFor, type RequestLike } from 'keycard/nest';
import type { AnyRequest } from '../http/platform-request.js';

/**
 * The CSRF token for this request's forms and for GET /api/auth/csrf: the one
 * place the app asks keycard for it (session-bound when signed in; else a
 * signed double-submit token whose cookie keycard sets on this response).
 *
 * `optional`: error pages may be rendered for requests that failed before
 * keycard saw them (a body too large to parse); their forms then carry no
 * token and a submit is refused, which is the safe outcome.
 */
export function csrfToken(request: AnyRequest, optional = false): string {
  try {
    return csrfTokenFor(request as unknown as RequestLike);
  } catch (error) {
    if (optional) return '';
    throw error;
  }
}
