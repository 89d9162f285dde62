import { FETCH_SITES, normalizeOrigin, type CsrfOriginPolicy, type FetchSite } from '../../core/csrf.js';
import { InvalidOptionsError } from '../../core/errors.js';

/**
 * The `csrf` option of `SessionModule.forRoot` (or of the object a `forRootAsync`
 * factory returns). Every one is optional; the defaults are the strict ones.
 */
export interface CsrfModuleOptions {
  /**
   * Origins (`https://admin.example.com`: scheme, host, optional port, nothing
   * else) allowed to send unsafe requests besides the request's own origin.
   * Default: none. The request's own origin follows the platform's
   * trust-proxy setting (Express `trust proxy`, Fastify `trustProxy`).
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * `Sec-Fetch-Site` values accepted on unsafe requests. Default
   * `['same-origin', 'same-site', 'none']`: only `cross-site` is refused. Use
   * `['same-origin', 'none']` to refuse sibling subdomains too.
   */
  readonly allowedFetchSites?: readonly FetchSite[];
  /**
   * Base name of the pre-session (double-submit) cookie. Default `'csrf'`; it
   * becomes `__Host-csrf` when Secure. Secure and SameSite follow the session
   * cookie's options.
   */
  readonly cookieName?: string;
  /**
   * `'global'` (default, secure by default): every unsafe HTTP request is
   * checked unless its route or controller is `@SkipCsrf()`. `'none'`: no
   * global guard; protect routes with `@UseGuards(CsrfGuard)`.
   */
  readonly guard?: 'global' | 'none';
  /**
   * Accept GraphQL requests sent as `multipart/form-data` (file uploads with
   * graphql-upload). Default false: a cross-site form can send multipart, so
   * it is refused like `text/plain` and urlencoded bodies. Mutations sent
   * this way still need the token and a same-site Origin.
   */
  readonly graphqlMultipart?: boolean;
}

/** @internal Every default applied and validated; per-request code reads only this. */
export interface ResolvedCsrfOptions extends CsrfOriginPolicy {
  readonly guard: 'global' | 'none';
  readonly graphqlMultipart: boolean;
  /** The cookie's name for a request that is (or is not) secure. */
  cookieNameFor(secure: boolean): string;
}

/** @internal */
export const RESOLVED_CSRF_OPTIONS = Symbol('keycard:resolved-csrf-options');

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const DEFAULT_FETCH_SITES: readonly FetchSite[] = ['same-origin', 'same-site', 'none'];

function fail(message: string): never {
  throw new InvalidOptionsError(`keycard: csrf ${message}`);
}

/**
 * @internal The session options' `csrf`, validated once at startup: null when
 * it is `false` (CSRF protection off), else every default applied.
 */
export function resolveCsrfSetting(csrf: CsrfModuleOptions | false | undefined): ResolvedCsrfOptions | null {
  if (csrf === false) return null;
  if (csrf !== undefined && (typeof csrf !== 'object' || csrf === null || Array.isArray(csrf))) {
    fail(`must be an options object, or false to turn CSRF protection off; got ${JSON.stringify(csrf)}`);
  }
  return resolveCsrfOptions(csrf);
}

/** @internal Validates once, at startup, with messages that say what to change. */
export function resolveCsrfOptions(options: CsrfModuleOptions | undefined): ResolvedCsrfOptions {
  const given = options ?? {};
  if (typeof given !== 'object' || given === null) fail('options must be an object');
  const guard = given.guard ?? 'global';
  if (guard !== 'global' && guard !== 'none') fail(`guard must be 'global' or 'none', got ${JSON.stringify(guard)}`);

  const graphqlMultipart = given.graphqlMultipart ?? false;
  if (typeof graphqlMultipart !== 'boolean') fail(`graphqlMultipart must be true or false, got ${JSON.stringify(graphqlMultipart)}`);

  const origins = given.allowedOrigins ?? [];
  if (!Array.isArray(origins)) fail('allowedOrigins must be an array of origins');
  const allowedOrigins = new Set<string>();
  origins.forEach((entry: unknown, i: number) => {
    const origin = typeof entry === 'string' ? normalizeOrigin(entry) : null;
    if (origin === null) {
      fail(
        `allowedOrigins[${i}] ${JSON.stringify(entry)} is not an origin: ` +
          `give scheme, host and optional port only, like "https://admin.example.com"`,
      );
    }
    allowedOrigins.add(origin);
  });

  const sites = given.allowedFetchSites ?? DEFAULT_FETCH_SITES;
  if (!Array.isArray(sites)) fail('allowedFetchSites must be an array');
  for (const site of sites as readonly unknown[]) {
    if (!FETCH_SITES.includes(site as FetchSite)) {
      fail(`allowedFetchSites contains ${JSON.stringify(site)}; the values are ${FETCH_SITES.map((s) => `'${s}'`).join(', ')}`);
    }
  }

  const base = given.cookieName ?? 'csrf';
  if (typeof base !== 'string' || !COOKIE_NAME.test(base)) fail(`cookieName ${JSON.stringify(base)} is not a valid cookie name`);
  if (base.startsWith('__')) fail(`cookieName ${JSON.stringify(base)} must not carry a prefix: __Host- is added when the cookie is Secure`);
  // Host-only, Path=/: the `__Host-` prefix applies whenever the cookie is Secure (rfc6265bis §4.1.3.2),
  // so a sibling subdomain cannot plant one.
  const secureName = `__Host-${base}`;

  return {
    guard,
    graphqlMultipart,
    allowedOrigins,
    allowedFetchSites: new Set(sites),
    cookieNameFor: (secure) => (secure ? secureName : base),
  };
}
