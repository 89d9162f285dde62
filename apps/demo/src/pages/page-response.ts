import { findSession, type RequestLike } from 'keycard/nest';
import { htmlResponse, seeOther, type AnyRequest, type AnyResponse } from '../http/platform-request.js';
import { addFlash, type FlashCode } from './flash.js';
import type { PageContext } from './views/context.js';

/** Sends a rendered page (its flashes were consumed when its context was read). */
export function sendPage(
  request: AnyRequest,
  response: AnyResponse,
  ctx: PageContext,
  status: number,
  html: string,
): string {
  // The security headers (CSP, nosniff, Referrer-Policy, X-Frame-Options) are on every response already: http/security-headers.ts.
  // Pages show personal data; never let a shared cache or the back button after sign-out show them.
  response.header('Cache-Control', 'no-store');
  return htmlResponse(response, status, html);
}

/** 303 to `location`, optionally with a flash for the page it leads to. */
export function redirectWithFlash(request: AnyRequest, response: AnyResponse, location: string, flash?: FlashCode): string {
  if (flash) addFlash(findSession(request as unknown as RequestLike), flash);
  return seeOther(response, location);
}
