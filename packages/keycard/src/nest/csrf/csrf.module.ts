import { SessionManager } from '../../core/manager.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Module, type DynamicModule, type NestModule } from '@nestjs/common';
import { APP_GUARD, HttpAdapterHost, Reflector } from '@nestjs/core';
import { CsrfGuard } from './csrf.guard.js';
import {
  ConfigurableCsrfModule,
  CSRF_MODULE_ASYNC_OPTIONS_TYPE,
  CSRF_MODULE_OPTIONS,
  RESOLVED_CSRF_OPTIONS,
  resolveCsrfOptions,
  type CsrfModuleOptions,
  type ResolvedCsrfOptions,
} from './csrf.options.js';
import { CsrfService, attachCsrfService } from './csrf.service.js';
import { rememberReply, type FastifyReplyShape } from './http.js';

interface ExpressAppShape {
  use(handler: (req: IncomingMessage, res: ServerResponse, next: () => void) => void): unknown;
}

interface FastifyShape {
  addHook(
    name: 'onRequest',
    hook: (request: { readonly raw: IncomingMessage }, reply: FastifyReplyShape, done: () => void) => void,
  ): unknown;
}

/**
 * CSRF protection for the whole application; needs `SessionModule` (it
 * verifies tokens with the session signing keys). Global: import it once, in
 * the root module, after `SessionModule`. By default it installs `CsrfGuard`
 * globally (see there for what is checked and where it runs).
 */
@Module({
  providers: [
    { provide: RESOLVED_CSRF_OPTIONS, useFactory: resolveCsrfOptions, inject: [CSRF_MODULE_OPTIONS] },
    CsrfService,
    {
      provide: APP_GUARD,
      // A factory that returns null registers no guard.
      useFactory: (resolved: ResolvedCsrfOptions, reflector: Reflector, csrf: CsrfService, manager: SessionManager) =>
        resolved.guard === 'global' ? new CsrfGuard(reflector, csrf, manager) : null,
      inject: [RESOLVED_CSRF_OPTIONS, Reflector, CsrfService, SessionManager],
    },
  ],
  exports: [CsrfService, CSRF_MODULE_OPTIONS],
})
export class CsrfModule extends ConfigurableCsrfModule implements NestModule {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly csrf: CsrfService,
  ) {
    super();
  }

  static override forRoot(options: CsrfModuleOptions = {}): DynamicModule {
    return { ...super.forRoot(options), global: true };
  }

  static override forRootAsync(options: typeof CSRF_MODULE_ASYNC_OPTIONS_TYPE): DynamicModule {
    return { ...super.forRootAsync(options), global: true };
  }

  /**
   * Puts the service on every raw request, so that `csrfTokenFor(request)`
   * works anywhere (exception filters rendering pages included, 404s too),
   * and on Fastify the reply as well, so that the pre-session cookie can be
   * set from the request alone.
   */
  configure(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return; // an application context without HTTP
    const csrf = this.csrf;
    if (adapter.getType() === 'fastify') {
      (adapter.getInstance() as FastifyShape).addHook('onRequest', function keycardCsrf(request, reply, done) {
        attachCsrfService(request.raw, csrf);
        rememberReply(request.raw, reply);
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
