import { Injectable, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { CookieJar } from '../core/cookie-jar.js';
import { cookiesOf, type RequestLike } from './binding.js';
import { httpRequestOf } from './context.js';

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
