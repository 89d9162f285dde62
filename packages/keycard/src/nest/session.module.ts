import { Inject, Logger, Module, type DynamicModule, type NestModule, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, HttpAdapterHost, ModuleRef, ModulesContainer, Reflector } from '@nestjs/core';
import { InvalidOptionsError } from '../core/errors.js';
import { SessionManager } from '../core/manager.js';
import { SecurityLog } from '../core/security-log.js';
import { withDefaultStore } from '../default-store.js';
import { AppCookies, resolveAppCookieOptions } from '../core/cookie-jar.js';
import { CookieService } from './cookies.js';
import { ExpressSessionMigration } from '../connect/express-session-migration.js';
import { SessionBinding } from './binding.js';
import type { ExpressAdapterShape } from './platform.js';
import { SessionExceptionFilter } from './exception-filter.js';
import { SessionGuard } from './guards.js';
import { GraphqlCommitPlugin } from './graphql-commit.js';
import { refuseUnguardedFieldResolvers } from './graphql-fields.js';
import { GraphqlSubscriptionAuth } from './graphql-subscriptions.js';
import { createSocketRegistry } from './sockets.js';
import { SocketRegistry } from '../ws/registry.js';
import { guardRpcHandlers } from './rpc.js';
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
import type { CsrfModuleOptions } from './csrf/csrf.options.js';

/** The express-session migration, when `migrateFromExpressSession` is given (validated here, at startup). */
function migrationOf(options: SessionModuleOptions, manager: SessionManager): ExpressSessionMigration | undefined {
  const migrate = options.migrateFromExpressSession;
  if (migrate === undefined) return undefined;
  const old = migrate.cookieName ?? 'connect.sid';
  if (old === manager.cookieName(false) || old === manager.cookieName(true)) {
    // Clearing the old cookie would clear keycard's own.
    throw new InvalidOptionsError(
      `keycard: migrateFromExpressSession.cookieName ${JSON.stringify(old)} is also keycard's session cookie name: give keycard another cookie.name`,
    );
  }
  return new ExpressSessionMigration({ clock: manager.options.clock, ...migrate });
}

/** The cookies keycard writes itself, which no application jar may read or overwrite. */
function reservedCookieNames(manager: SessionManager, csrf: CsrfModuleOptions | false | undefined): ReadonlySet<string> {
  const names = new Set([manager.cookieName(true), manager.cookieName(false)]);
  if (csrf !== false) {
    const base = csrf?.cookieName ?? 'csrf';
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
 * the response is sent (Express: hooks on Nest's replies, its exception
 * layer and the response's first byte, see `installExpressCommitHooks`,
 * plus the headers of a rotation done while loading, so that a refused
 * request still delivers them; Fastify: an `onSend` hook). That covers
 * returned values, thrown exceptions, `@Redirect()`, `@Render()`,
 * `StreamableFile` and SSE. A handler that sends the response itself
 * (`@Res()` without passthrough) should `await sessionService.commit(req, res)`
 * first to see a failure itself; otherwise its answer waits for the commit,
 * and a failed one is answered with 503 by keycard.
 *
 * Options are validated when the application is created, so bad options fail
 * the bootstrap with an `InvalidOptionsError` that says what to change.
 */
@Module({
  // CSRF protection, configured by the `csrf` option wherever the options come from (forRoot, or a
  // forRootAsync factory): CsrfModule reads it from SESSION_MODULE_OPTIONS, and `csrf: false` turns it off.
  imports: [CsrfModule],
  providers: [
    { provide: RESOLVED_MODULE_OPTIONS, useFactory: resolveModuleOptions, inject: [SESSION_MODULE_OPTIONS] },
    {
      provide: SessionManager,
      // The binding options are checked first, then the core's resolveOptions checks the rest.
      useFactory: (options: SessionModuleOptions, _resolved: ResolvedModuleOptions) => new SessionManager(withDefaultStore(options)),
      inject: [SESSION_MODULE_OPTIONS, RESOLVED_MODULE_OPTIONS],
    },
    {
      provide: AppCookies,
      useFactory: (options: SessionModuleOptions, manager: SessionManager) =>
        new AppCookies(
          resolveAppCookieOptions(options.appCookies),
          manager.options.signer,
          manager.options.clock,
          manager.options.random,
          reservedCookieNames(manager, options.csrf),
          (requestSecure) => manager.cookieSecure(requestSecure),
        ),
      inject: [SESSION_MODULE_OPTIONS, SessionManager],
    },
    {
      provide: SessionBinding,
      useFactory: (manager: SessionManager, cookies: AppCookies, options: SessionModuleOptions) =>
        new SessionBinding(manager, cookies, migrationOf(options, manager)),
      inject: [SessionManager, AppCookies, SESSION_MODULE_OPTIONS],
    },
    SessionService,
    GraphqlCommitPlugin,
    {
      // One registry for every socket transport of the application (/ws, socket.io, GraphQL subscriptions).
      provide: SocketRegistry,
      useFactory: (manager: SessionManager, options: SessionModuleOptions) => createSocketRegistry(manager, options.sockets),
      inject: [SessionManager, SESSION_MODULE_OPTIONS],
    },
    {
      provide: GraphqlSubscriptionAuth,
      useFactory: (manager: SessionManager, registry: SocketRegistry, moduleRef: ModuleRef) => new GraphqlSubscriptionAuth(manager, registry, moduleRef),
      inject: [SessionManager, SocketRegistry, ModuleRef],
    },
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
      // A factory that returns null registers no guard. The same guard goes on every microservice
      // handler too, which a hybrid app's microservice runs without global guards unless inheritAppConfig.
      useFactory: (resolved: ResolvedModuleOptions, reflector: Reflector, modules: ModulesContainer, host: HttpAdapterHost) => {
        if (resolved.guard !== 'global') return null;
        const guard = new SessionGuard(reflector);
        guardRpcHandlers(modules, guard, new SessionExceptionFilter(host));
        return guard;
      },
      inject: [RESOLVED_MODULE_OPTIONS, Reflector, ModulesContainer, HttpAdapterHost],
    },
    { provide: APP_FILTER, useClass: SessionExceptionFilter },
  ],
  exports: [SessionManager, SessionService, CookieService, SESSION_MODULE_OPTIONS, CsrfModule, GraphqlSubscriptionAuth, SocketRegistry],
})
export class SessionModule extends ConfigurableSessionModule implements NestModule, OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly binding: SessionBinding,
    @Inject(RESOLVED_MODULE_OPTIONS) private readonly resolved: ResolvedModuleOptions,
    private readonly sockets: SocketRegistry,
    private readonly modules: ModulesContainer,
    private readonly moduleRef: ModuleRef,
  ) {
    super();
  }

  static override forRoot(options: typeof SESSION_MODULE_OPTIONS_TYPE): DynamicModule {
    return { ...super.forRoot(options), global: true };
  }

  /** Every option, `csrf` included, comes from the object `useFactory` returns. */
  static override forRootAsync(options: typeof SESSION_MODULE_ASYNC_OPTIONS_TYPE): DynamicModule {
    if (typeof options === 'object' && options !== null && 'csrf' in options) {
      throw new InvalidOptionsError(
        'keycard: SessionModule.forRootAsync takes csrf in the object that useFactory returns, not beside useFactory',
      );
    }
    return { ...super.forRootAsync(options), global: true };
  }

  /** Runs while the application initialises, after the platform is known and before any route is registered. */
  configure(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return; // an application context without HTTP
    const type = adapter.getType();
    if (type === 'express') this.binding.bindExpress(adapter as unknown as ExpressAdapterShape);
    else if (type === 'fastify') this.binding.bindFastify(adapter.getInstance());
    else throw new InvalidOptionsError(`keycard: SessionModule supports Express and Fastify, not "${type}"`);
  }

  /** Every provider exists by now, GraphQLModule's options included. */
  onApplicationBootstrap(): void {
    refuseUnguardedFieldResolvers(this.modules, this.moduleRef);
  }

  async onModuleDestroy(): Promise<void> {
    // Unsubscribes from revocations while the store is still open; the sockets are left to their servers.
    await this.sockets.close();
    if (this.resolved.ownsStore) await this.binding.manager.store.close();
  }
}
