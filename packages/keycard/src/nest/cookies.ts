import { Injectable, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { CookieJar } from '../core/cookie-jar.js';
import { KeycardError } from '../core/errors.js';
import { httpRequestOf } from './context.js';
import { cookieJarOf, headersOf, headersSent, putSetCookie, requestSecure, responseOf, type RequestLike } from './platform.js';

/** A Set-Cookie written after the response went out would be lost without a trace. */
export class ResponseSentError extends KeycardError {
  constructor() {
    super(
      'KEYCARD_RESPONSE_SENT',
      'keycard: a cookie was set after the response was sent (or with no response to send it on); set cookies before sending',
    );
  }
}

/**
 * The request's application cookies (`CookieJar`), created on first use.
 * Writes go straight onto the request's response, merged with keycard's own
 * Set-Cookie headers. Throws `SessionNotLoadedError` when keycard never saw
 * the request.
 */
export function cookiesOf(request: RequestLike): CookieJar {
  return cookieJarOf(request, (cookies) =>
    cookies.jar({ cookieHeader: headersOf(request).cookie, requestSecure: requestSecure(request) }, (_name, setCookie) => {
      const response = responseOf(request);
      if (response === undefined || headersSent(response)) throw new ResponseSentError();
      putSetCookie(response, setCookie);
    }),
  );
}

/**
 * `@Cookies()`: the request's `CookieJar`, to read, set and clear the
 * application's cookies (plain, signed, sealed) the same way on Express and
 * Fastify, with no cookie-parser or @fastify/cookie. `@Cookies('theme')`: the
 * value of the plain cookie `theme`, or undefined.
 */
export const Cookies: (name?: string) => ParameterDecorator = createParamDecorator(
  (name: string | undefined, context: ExecutionContext): CookieJar | string | undefined => {
    const jar = cookiesOf(httpRequestOf(context));
    return name === undefined ? jar : jar.get(name);
  },
);

/**
 * The application's cookies from anywhere that holds the request (guards,
 * interceptors, services): `cookieService.of(request)` is the same
 * `CookieJar` that `@Cookies()` gives the handler.
 */
@Injectable()
export class CookieService {
  of(request: RequestLike): CookieJar {
    return cookiesOf(request);
  }
}
