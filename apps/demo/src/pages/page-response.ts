import { addHeader, htmlResponse, isSecure, seeOther, type AnyRequest, type AnyResponse } from '../http/platform-request.js';
import { clearFlashCookie, setFlashCookie, type FlashCode } from './flash.js';
import type { PageContext } from './views/context.js';

/**
 * Pages load nothing but their own stylesheet, cannot be framed, and post
 * forms only to this site.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Sends a rendered page; a flash shown on it is consumed (its cookie cleared). */
export function sendPage(
  request: AnyRequest,
  response: AnyResponse,
  ctx: PageContext,
  status: number,
  html: string,
): string {
  if (ctx.flash) addHeader(response, 'Set-Cookie', clearFlashCookie(isSecure(request)));
  response.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  response.header('X-Content-Type-Options', 'nosniff');
  response.header('Referrer-Policy', 'same-origin');
  // Pages show personal data; never let a shared cache or the back button after sign-out show them.
  response.header('Cache-Control', 'no-store');
  return htmlResponse(response, status, html);
}

/** 303 to `location`, optionally with a flash for the page it leads to. */
export function redirectWithFlash(request: AnyRequest, response: AnyResponse, location: string, flash?: FlashCode): string {
  if (flash) addHeader(response, 'Set-Cookie', setFlashCookie(flash, isSecure(request)));
  return seeOther(response, location);
}
