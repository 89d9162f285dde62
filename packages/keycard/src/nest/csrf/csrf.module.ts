import { SessionManager } from '../../core/manager.js';
import { Inject, Module, type NestModule } from '@nestjs/common';
import { APP_GUARD, HttpAdapterHost, Reflector } from '@nestjs/core';
import { InvalidOptionsError } from '../../core/errors.js';
import { SESSION_MODULE_OPTIONS, type SessionModuleOptions } from '../options.js';
import { CsrfGuard } from './csrf.guard.js';
import { RESOLVED_CSRF_OPTIONS, resolveCsrfSetting, type ResolvedCsrfOptions } from './csrf.options.js';
import { CsrfService, attachCsrfService } from './csrf.service.js';
import type { ExpressAppShape, FastifyReplyShape, FastifyRequestShape, FastifyShape } from '../platform.js';

/** Why `CsrfModule.forRoot()` is refused: one way to configure CSRF, and a second module would add a second guard. */
const INSTALLED_BY_SESSION_MODULE =
  'keycard: CsrfModule is installed by SessionModule; do not import it yourself. Remove CsrfModule.forRoot() / ' +
  'forRootAsync() and give its options as the csrf option of SessionModule.forRoot({ csrf: { ... } }) ' +
  '(or of the object your forRootAsync factory returns); csrf: false turns CSRF protection off.';

/**
 * CSRF protection for the whole application, installed by `SessionModule`
 * (which imports it: never import it yourself) and configured by the
 * session options' `csrf` (`false`: off). It verifies tokens with the session
 * signing keys. By default it installs `CsrfGuard` globally (see there for
 * what is checked and where it runs).
 */
@Module({
  providers: [
    {
      provide: RESOLVED_CSRF_OPTIONS,
      // From the session options, whether they came from forRoot or from a forRootAsync factory.
      useFactory: (options: SessionModuleOptions) => resolveCsrfSetting(options.csrf),
      inject: [SESSION_MODULE_OPTIONS],
    },
    CsrfService,
    {
      provide: APP_GUARD,
      // A factory that returns null registers no guard.
      useFactory: (resolved: ResolvedCsrfOptions | null, reflector: Reflector, csrf: CsrfService, manager: SessionManager) =>
        resolved?.guard === 'global' ? new CsrfGuard(reflector, csrf, manager) : null,
      inject: [RESOLVED_CSRF_OPTIONS, Reflector, CsrfService, SessionManager],
    },
  ],
  exports: [CsrfService],
})
export class CsrfModule implements NestModule {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly csrf: CsrfService,
    @Inject(RESOLVED_CSRF_OPTIONS) private readonly resolved: ResolvedCsrfOptions | null,
  ) {}

  /** Refused: `SessionModule` installs CSRF protection, configured by its `csrf` option. */
  static forRoot(_options?: unknown): never {
    throw new InvalidOptionsError(INSTALLED_BY_SESSION_MODULE);
  }

  /** Refused, like `forRoot`. */
  static forRootAsync(_options?: unknown): never {
    throw new InvalidOptionsError(INSTALLED_BY_SESSION_MODULE);
  }

  /**
   * Puts the service on every raw request, so that `csrfTokenFor(request)`
   * works anywhere (exception filters rendering pages included, 404s too).
   * The pre-session cookie reaches the response through the platform module
   * (`responseOf`: Express's `req.res`, or the Fastify reply the session
   * binding recorded).
   */
  configure(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return; // an application context without HTTP
    if (this.resolved === null) return; // csrf: false, no cost per request (csrfTokenFor then says it is off)
    const csrf = this.csrf;
    if (adapter.getType() === 'fastify') {
      (adapter.getInstance() as FastifyShape).addHook('onRequest', function keycardCsrf(request: FastifyRequestShape, _reply: FastifyReplyShape, done: () => void) {
        attachCsrfService(request.raw, csrf);
        done();
      });
    } else if (adapter.getType() === 'express') {
      (adapter.getInstance() as ExpressAppShape).use(function keycardCsrf(req, _res, next) {
        attachCsrfService(req, csrf);
        next();
      });
    }
  }
}
