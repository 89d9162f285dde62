import { findSession, type RequestLike } from 'keycard/nest';
import { htmlResponse, seeOther, type AnyRequest, type AnyResponse } from '../http/platform-request.js';
import { addFlash, type FlashCode } from './flash.js';
import type { PageContext } from './views/context.js';

/**
 * Pages load nothing but their own stylesheet, cannot be framed, and post
 * forms only to this site.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Sends a rendered page (its flashes were consumed when its context was read). */
export function sendPage(
  request: AnyRequest,
  response: AnyResponse,
  ctx: PageContext,
  status: number,
  html: string,
): string {
  response.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  response.header('X-Content-Type-Options', 'nosniff');
  response.header('Referrer-Policy', 'same-origin');
  // Pages show personal data; never let a shared cache or the back button after sign-out show them.
  response.header('Cache-Control', 'no-store');
  return htmlResponse(response, status, html);
}

/** 303 to `location`, optionally with a flash for the page it leads to. */
export function redirectWithFlash(request: AnyRequest, response: AnyResponse, location: string, flash?: FlashCode): string {
  if (flash) addFlash(findSession(request as unknown as RequestLike), flash);
  return seeOther(response, location);
}
