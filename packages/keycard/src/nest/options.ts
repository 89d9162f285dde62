import { ConfigurableModuleBuilder, Inject } from '@nestjs/common';
import { InvalidOptionsError } from '../core/errors.js';
import type { SessionOptions } from '../core/options.js';
import type { AppCookieOptions } from '../core/cookie-jar.js';
import type { ExpressSessionMigrationOptions } from '../connect/express-session-migration.js';
import type { CsrfModuleOptions } from './csrf/csrf.options.js';
import type { SocketRegistryOptions } from '../ws/registry.js';

/** `SessionModule.forRoot` options: the core `SessionOptions` plus how the module binds to Nest. */
export interface SessionModuleOptions extends SessionOptions {
  /**
   * 'global' (default, secure by default): every handler needs a signed-in
   * session unless it is `@Public()` — HTTP routes, GraphQL resolvers,
   * WebSocket and socket.io message handlers; microservice handlers carry no
   * session and are refused unless `@Public()` (keycard puts the guard on
   * them itself, so a hybrid microservice without `inheritAppConfig` is
   * covered too). 'none': no global guard; protect handlers with
   * `@UseGuards(SessionGuard)`, `@Roles()` or `@RequireFreshAuth()`.
   */
  readonly guard?: 'global' | 'none';
  /**
   * CSRF protection, on by default (`{}`): its options (see `CsrfModuleOptions`).
   * `false` turns it off — an explicit relaxation, for APIs reached only with
   * bearer tokens. With `forRootAsync`, return it from the factory like every
   * other option. This is the only place CSRF is configured: `CsrfModule.forRoot()`
   * is refused.
   */
  readonly csrf?: CsrfModuleOptions | false;
  /**
   * Defaults for the application's own cookies (`@Cookies()`, `CookieService`):
   * HttpOnly, SameSite=Lax, Path=/, host-only and `__Host-` when Secure unless
   * said otherwise. `Secure` follows `cookie.secure`, like the session cookie.
   */
  readonly appCookies?: AppCookieOptions;
  /**
   * Log security events (failed sign-ins, lockouts, CSRF refusals, store
   * outages) through Nest's Logger, context `keycard:security`, at warn
   * level, ids hashed (see `SecurityLog`). Default true; false leaves them
   * to your own listener on `SessionManager.events`.
   */
  readonly securityLog?: boolean;
  /**
   * Moving from express-session: requests with express-session's old cookie
   * (and no keycard sign-in) are signed in from their old session once, which
   * is then destroyed and its cookie cleared. See `ExpressSessionMigration`.
   */
  readonly migrateFromExpressSession?: ExpressSessionMigrationOptions;
  /**
   * The application's one `SocketRegistry`, which closes signed-in sockets
   * (`KeycardWsAdapter`, `KeycardIoAdapter`, GraphQL subscriptions) when
   * their session ends: `revalidateInterval` (seconds between re-checks that
   * catch a lost revocation message, default 300), `closeGrace` (seconds a
   * closed socket gets to finish the closing handshake, default 1), `onError`
   * (failures it recovers from; default: a warning through Nest's Logger).
   */
  readonly sockets?: SocketRegistryOptions;
}

export const {
  ConfigurableModuleClass: ConfigurableSessionModule,
  MODULE_OPTIONS_TOKEN: SESSION_MODULE_OPTIONS,
  OPTIONS_TYPE: SESSION_MODULE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: SESSION_MODULE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<SessionModuleOptions>({ moduleName: 'KeycardSession' })
  .setClassMethodName('forRoot')
  .build();

/** Injects the options given to `SessionModule.forRoot` / `forRootAsync`, as given. */
export const InjectSessionModuleOptions = (): PropertyDecorator & ParameterDecorator => Inject(SESSION_MODULE_OPTIONS);

/** @internal The binding's own options, validated; the core validates the rest in `resolveOptions`. */
export interface ResolvedModuleOptions {
  readonly guard: 'global' | 'none';
  /** The store was defaulted, so the module closes it on shutdown. */
  readonly ownsStore: boolean;
  readonly securityLog: boolean;
}

/** @internal */
export const RESOLVED_MODULE_OPTIONS = Symbol('keycard:resolved-module-options');

/** @internal */
export function resolveModuleOptions(options: SessionModuleOptions): ResolvedModuleOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionsError('keycard: SessionModule options are required (at least `secrets`)');
  }
  const guard = options.guard ?? 'global';
  if (guard !== 'global' && guard !== 'none') {
    throw new InvalidOptionsError(`keycard: guard must be 'global' or 'none', got ${JSON.stringify(guard)}`);
  }
  const securityLog = options.securityLog ?? true;
  if (typeof securityLog !== 'boolean') {
    throw new InvalidOptionsError(`keycard: securityLog must be true or false, got ${JSON.stringify(securityLog)}`);
  }
  return { guard, ownsStore: options.store === undefined, securityLog };
}
