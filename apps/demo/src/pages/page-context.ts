import type { Session } from 'keycard';
import { header, requestPath, type AnyRequest } from '../http/platform-request.js';
import { findSession, type RequestLike } from 'keycard/nest';
import { userOfPrincipal } from '../users/user.js';
import { csrfToken } from '../csrf/csrf-token.js';
import { FLASHES, takeFlashes, type ShownFlash } from './flash.js';
import type { PageContext } from './views/context.js';

/**
 * A browser asking for a page (or posting a form), as opposed to an API
 * client: errors become pages and a missing sign-in becomes a redirect.
 */
export function isPageRequest(request: AnyRequest): boolean {
  const path = requestPath(request);
  if (path === '/api' || path.startsWith('/api/') || path.startsWith('/api?')) return false;
  const accept = header(request, 'accept') ?? '';
  const type = header(request, 'content-type') ?? '';
  return accept.includes('text/html') || type.startsWith('application/x-www-form-urlencoded');
}

/** What every page needs to know, from the request's session and cookies. */
export function pageContextOf(
  request: AnyRequest,
  session: Session | undefined = findSession(request as unknown as RequestLike),
  forErrorPage = false,
): PageContext {
  let principal = null;
  try {
    principal = session?.principal ?? null;
  } catch {
    // The store is down: render as signed out rather than fail the error page too.
  }
  return {
    user: principal ? userOfPrincipal(principal) : null,
    csrfToken: csrfToken(request, forErrorPage),
    // Error pages show none: they are answered after the session was saved, so a consumed flash would come back.
    flashes: forErrorPage ? [] : [...signedOutFlash(request), ...takeFlashes(session)],
    path: requestPath(request).split('?')[0] ?? '/',
  };
}

/**
 * Sign-out answers with `Clear-Site-Data: "cookies"`, which also removes a
 * flash cookie set in the same response; so "signed out" travels in the URL
 * of the redirect instead (/login?signed-out). Only that one message can be
 * shown this way.
 */
function signedOutFlash(request: AnyRequest): ShownFlash[] {
  const query = requestPath(request).split('?')[1] ?? '';
  if (!new URLSearchParams(query).has('signed-out')) return [];
  return [{ type: FLASHES['signed-out'].kind, message: FLASHES['signed-out'].text }];
}
