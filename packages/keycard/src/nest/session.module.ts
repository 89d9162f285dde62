import { Inject, Logger, Module, type DynamicModule, type NestModule, type OnModuleDestroy } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, HttpAdapterHost, Reflector } from '@nestjs/core';
import { InvalidOptionsError } from '../core/errors.js';
import { SessionManager } from '../core/manager.js';
import { SecurityLog } from '../core/security-log.js';
import { AppCookies, resolveAppCookieOptions } from '../core/cookie-jar.js';
import { CookieService } from './cookies.js';
import { SessionBinding } from './binding.js';
import { SessionCommitInterceptor } from './commit.interceptor.js';
import { SessionExceptionFilter } from './errors.js';
import { SessionGuard } from './guards.js';
import {
  ConfigurableSessionModule,
  RESOLVED_MODULE_OPTIONS,
  SESSION_MODULE_ASYNC_OPTIONS_TYPE,
  SESSION_MODULE_OPTIONS,
  SESSION_MODULE_OPTIONS_TYPE,
  resolveModuleOptions,
  type ResolvedModuleOptions,
  type SessionModuleOptions,
} from './options.js';
import { SessionService } from './session.service.js';
import { CsrfModule } from './csrf/csrf.module.js';
import { CSRF_MODULE_OPTIONS, type CsrfModuleOptions } from './csrf/csrf.options.js';

/** CSRF is on unless the options say `csrf: false`. */
function csrfImports(csrf: CsrfModuleOptions | false | undefined): DynamicModule[] {
  return csrf === false ? [] : [CsrfModule.forRoot(csrf ?? {})];
}

/** The cookies keycard writes itself, which no application jar may read or overwrite. */
function reservedCookieNames(manager: SessionManager, csrf: CsrfModuleOptions | undefined): ReadonlySet<string> {
  const names = new Set([manager.cookieName(true), manager.cookieName(false)]);
  if (csrf !== undefined) {
    const base = csrf.cookieName ?? 'csrf';
    names.add(base).add(`__Host-${base}`);
  }
  return names;
}

/**
 * Server-side sessions for the whole application, on Express or Fastify.
 * Global: import it once, in the root module.
 *
 * Per request, the session is loaded before any guard runs (Express: a
 * middleware mounted before every Nest middleware and route; Fastify: an
 * `onRequest` hook, which runs after Nest middleware there) and stored before
 * the response is sent (Express: an interceptor around every handler, plus
 * the headers of a rotation done while loading, so that a refused request
 * still delivers them; Fastify: an `onSend` hook). That covers returned
 * values, thrown exceptions, `@Redirect()` and `@Render()`. A handler that
 * sends the response itself (`@Res()` without passthrough, `res.redirect()`)
 * must `await sessionService.commit(req, res)` first.
 *
 * Options are validated when the application is created, so bad options fail
 * the bootstrap with an `InvalidOptionsError` that says what to change.
 */
@Module({
  providers: [
    { provide: RESOLVED_MODULE_OPTIONS, useFactory: resolveModuleOptions, inject: [SESSION_MODULE_OPTIONS] },
    {
      provide: SessionManager,
      // The binding options are checked first, then the core's resolveOptions checks the rest.
      useFactory: (options: SessionModuleOptions, _resolved: ResolvedModuleOptions) => new SessionManager(options),
      inject: [SESSION_MODULE_OPTIONS, RESOLVED_MODULE_OPTIONS],
    },
    {
      provide: AppCookies,
      useFactory: (options: SessionModuleOptions, manager: SessionManager, csrf: CsrfModuleOptions | undefined) =>
        new AppCookies(
          resolveAppCookieOptions(options.appCookies),
          manager.options.signer,
          manager.options.clock,
          manager.options.random,
          reservedCookieNames(manager, options.csrf === false ? undefined : csrf),
          (requestSecure) => manager.cookieSecure(requestSecure),
        ),
      inject: [SESSION_MODULE_OPTIONS, SessionManager, { token: CSRF_MODULE_OPTIONS, optional: true }],
    },
    {
      provide: SessionBinding,
      useFactory: (manager: SessionManager, cookies: AppCookies) => new SessionBinding(manager, cookies),
      inject: [SessionManager, AppCookies],
    },
    SessionService,
    CookieService,
    {
      // Security events to the log as they happen (nothing injects it: Nest creates every provider at start-up).
      provide: SecurityLog,
      useFactory: (manager: SessionManager, resolved: ResolvedModuleOptions) => {
        if (!resolved.securityLog) return null;
        const logger = new Logger('keycard:security');
        return new SecurityLog(manager.events, (line) => logger.warn(line), manager.options.clock);
      },
      inject: [SessionManager, RESOLVED_MODULE_OPTIONS],
    },
    {
      provide: APP_GUARD,
      // A factory that returns null registers no guard.
      useFactory: (resolved: ResolvedModuleOptions, reflector: Reflector) =>
        resolved.guard === 'global' ? new SessionGuard(reflector) : null,
      inject: [RESOLVED_MODULE_OPTIONS, Reflector],
    },
    {
      provide: APP_INTERCEPTOR,
      // Fastify commits in its onSend hook: when the platform is already known (NestFactory.create),
      // register no interceptor there, so that Nest does not build an rxjs pipeline per request for
      // nothing. Under @nestjs/testing the platform is not known yet; the interceptor then passes through.
      useFactory: (binding: SessionBinding, host: HttpAdapterHost) =>
        host.httpAdapter?.getType() === 'fastify' ? null : new SessionCommitInterceptor(binding),
      inject: [SessionBinding, HttpAdapterHost],
    },
    { provide: APP_FILTER, useClass: SessionExceptionFilter },
  ],
  exports: [SessionManager, SessionService, CookieService, SESSION_MODULE_OPTIONS],
})
export class SessionModule extends ConfigurableSessionModule implements NestModule, OnModuleDestroy {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly binding: SessionBinding,
    @Inject(RESOLVED_MODULE_OPTIONS) private readonly resolved: ResolvedModuleOptions,
  ) {
    super();
  }

  static override forRoot(options: typeof SESSION_MODULE_OPTIONS_TYPE): DynamicModule {
    const module = super.forRoot(options);
    return { ...module, global: true, imports: [...(module.imports ?? []), ...csrfImports(options.csrf)] };
  }

  /** `csrf` is given here, not by the factory: which modules to import is decided before any factory runs. */
  static override forRootAsync(
    options: typeof SESSION_MODULE_ASYNC_OPTIONS_TYPE & { readonly csrf?: CsrfModuleOptions | false },
  ): DynamicModule {
    const module = super.forRootAsync(options);
    return { ...module, global: true, imports: [...(module.imports ?? []), ...csrfImports(options.csrf)] };
  }

  /** Runs while the application initialises, after the platform is known and before any route is registered. */
  configure(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return; // an application context without HTTP
    const type = adapter.getType();
    if (type === 'express') this.binding.bindExpress(adapter.getInstance());
    else if (type === 'fastify') this.binding.bindFastify(adapter.getInstance());
    else throw new InvalidOptionsError(`keycard: SessionModule supports Express and Fastify, not "${type}"`);
  }

  async onModuleDestroy(): Promise<void> {
    if (this.resolved.ownsStore) await this.binding.manager.store.close();
  }
}
