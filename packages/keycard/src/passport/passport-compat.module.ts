import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ConfigurableModuleBuilder,
  Inject,
  Injectable,
  Module,
  type CallHandler,
  type DynamicModule,
  type ExecutionContext,
  type MiddlewareConsumer,
  type NestInterceptor,
  type NestMiddleware,
  type NestModule,
} from '@nestjs/common';
import { APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import passport from 'passport';
import { Observable } from 'rxjs';
import { InvalidOptionsError } from '../core/errors.js';
import { SessionManager } from '../core/manager.js';
import type { JsonValue, Principal } from '../core/record.js';
import { sessionOf } from '../nest/platform.js';
import { requestOf } from '../nest/context.js';
import { createSessionView, type ExpressSessionView, type SessionCallback } from './session-view.js';

/** A connect-style middleware as passport builds them; typed loosely so that passport's Express types need not match ours. */
export type PassportMiddleware = (req: never, res: never, next: (error?: unknown) => void) => unknown;

/** The part of a passport `Authenticator` keycard uses: the middleware that restores `req.user` from the session. */
export interface PassportLike {
  session(): PassportMiddleware;
}

export interface PassportCompatOptions {
  /**
   * The passport instance the strategies and the serializer are registered
   * on. Default: the `passport` package's default instance, which
   * `@nestjs/passport`'s `PassportStrategy` and `PassportSerializer` use.
   */
  readonly passport?: PassportLike;
  /**
   * Turns what `serializeUser` stored (`req.session.passport.user`) into the
   * keycard principal when passport signs a user in, so that keycard's
   * guards, device lists, revocation and session limits see passport's
   * sign-ins. Default: a string or number is the user id, and an object with
   * an `id` gives that id (and its `roles`, when they are strings), with no
   * roles otherwise and auth version 0. Return null to leave a login
   * unmapped; `false` turns the mapping off (passport's login then lives in
   * the session data only).
   */
  readonly principal?: ((serialized: JsonValue) => Principal | null) | false;
}

export const {
  ConfigurableModuleClass: ConfigurablePassportCompatModule,
  MODULE_OPTIONS_TOKEN: PASSPORT_COMPAT_OPTIONS,
  ASYNC_OPTIONS_TYPE: PASSPORT_COMPAT_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<PassportCompatOptions>({ moduleName: 'KeycardPassportCompat' })
  .setClassMethodName('forRoot')
  .build();

interface ResolvedPassportCompatOptions {
  readonly passport: PassportLike;
  readonly principalOf: ((serialized: JsonValue) => Principal | null) | null;
}

const RESOLVED_OPTIONS = Symbol('keycard:resolved-passport-compat-options');

/** The default `principal` mapping (see `PassportCompatOptions.principal`). */
export function defaultPrincipalOf(serialized: JsonValue): Principal | null {
  if ((typeof serialized === 'string' && serialized.length > 0) || (typeof serialized === 'number' && Number.isFinite(serialized))) {
    return { id: String(serialized), roles: [], authVersion: 0 };
  }
  if (typeof serialized === 'object' && serialized !== null && !Array.isArray(serialized)) {
    const { id, roles } = serialized;
    if ((typeof id !== 'string' || id.length === 0) && typeof id !== 'number') return null;
    const names = Array.isArray(roles) && roles.every((role) => typeof role === 'string') ? (roles as string[]) : [];
    return { id: String(id), roles: names, authVersion: 0 };
  }
  return null;
}

function resolveOptions(options: PassportCompatOptions | undefined): ResolvedPassportCompatOptions {
  const given = options ?? {};
  const instance = given.passport ?? (passport as unknown as PassportLike);
  if (typeof instance?.session !== 'function') {
    throw new InvalidOptionsError('keycard: passport compat option `passport` must be a passport Authenticator (with a session() method)');
  }
  const principal = given.principal ?? defaultPrincipalOf;
  if (principal !== false && typeof principal !== 'function') {
    throw new InvalidOptionsError('keycard: passport compat option `principal` must be a function or false');
  }
  return { passport: instance, principalOf: principal === false ? null : principal };
}

// ——— per request ———

/** The request's view operations, run one after another (see `ViewContext.enqueue`). */
/** The tail of a queue nothing was put in: most requests, which the interceptor then finishes without a promise. */
const IDLE: Promise<void> = Promise.resolve();

interface Queue {
  tail: Promise<void>;
  /** The first failure nobody was called back about; the interceptor fails the request with it. */
  failure: { readonly error: unknown } | null;
}

const QUEUE = Symbol('keycard.passport.queue');

interface ExpressRequestShape extends IncomingMessage {
  session?: ExpressSessionView;
  isAuthenticated?: () => boolean;
  [QUEUE]?: Queue;
}

function finish(queue: Queue, callback: SessionCallback | undefined, failure: { readonly error: unknown } | null): void {
  if (callback === undefined) {
    if (failure !== null) queue.failure ??= failure;
    return;
  }
  try {
    if (failure === null) callback();
    else callback(failure.error);
  } catch (error) {
    // The callback is application or passport code; what it throws fails the request.
    queue.failure ??= { error };
  }
}

function enqueue(queue: Queue, task: () => Promise<void>, callback: SessionCallback | undefined): void {
  // The chain itself never rejects, so one failure does not skip the operations queued after it.
  queue.tail = queue.tail.then(task).then(
    () => finish(queue, callback, null),
    (error: unknown) => finish(queue, callback, { error }),
  );
}

/**
 * Installs the express-session-like `req.session` over the keycard Session,
 * then runs passport's session strategy (what `app.use(passport.session())`
 * did), which sets `req.user` through `deserializeUser` and gives the request
 * `login`, `logout` and `isAuthenticated`. Mounted for every route, after
 * keycard has loaded the session and before any guard.
 */
@Injectable()
export class PassportSessionMiddleware implements NestMiddleware {
  private readonly restore: PassportMiddleware;

  constructor(
    private readonly manager: SessionManager,
    @Inject(RESOLVED_OPTIONS) private readonly options: ResolvedPassportCompatOptions,
  ) {
    this.restore = options.passport.session();
  }

  async use(req: ExpressRequestShape, res: ServerResponse, next: (error?: unknown) => void): Promise<void> {
    const session = sessionOf(req);
    const queue: Queue = { tail: IDLE, failure: null };
    req[QUEUE] = queue;
    // express-session's alias of req.session.id, read by logging and rate-limit code written for it.
    Object.defineProperty(req, 'sessionID', { configurable: true, enumerable: true, get: () => req.session?.id });
    req.session = createSessionView({
      session,
      manager: this.manager,
      passportKey: 'passport',
      principalOf: this.options.principalOf,
      install: (view) => {
        req.session = view;
      },
      enqueue: (task, callback) => enqueue(queue, task, callback),
    });
    if (session.available) {
      await new Promise<void>((resolve, reject) => {
        this.restore(req as never, res as never, (error?: unknown) => (error ? reject(error) : resolve()));
      });
    } else {
      // The store is down (the request did present a session): passport is not asked to read it, so
      // routes that do not need the session keep working. Whoever asks whether the request is signed
      // in gets the store's error (503), not a "no" that would read as signed out. Passport keeps an
      // isAuthenticated it finds on the request; reading the principal throws StoreUnavailableError.
      req.isAuthenticated = () => session.principal !== null;
    }
    next();
  }
}

/**
 * Waits, after the handler, for the `req.session` operations it started
 * without waiting (`req.session.destroy()` with no callback, as tutorials
 * write it), so that they are done before keycard stores the session and
 * sends its cookie; fails the request with their error if one failed.
 * keycard's Express commit hooks run when Nest sends the answer, after every interceptor.
 */
@Injectable()
export class PassportQueueInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const queue = (requestOf(context) as ExpressRequestShape)[QUEUE];
    if (queue === undefined) return next.handle();
    const source = next.handle();
    return new Observable<unknown>((subscriber) => {
      const settle = (failure: { readonly error: unknown } | null): void => {
        const finish = (): void => {
          const first = failure ?? queue.failure;
          if (first) subscriber.error(first.error);
          else subscriber.complete();
        };
        if (queue.tail === IDLE) finish();
        else void queue.tail.then(finish);
      };
      return source.subscribe({
        next: (value) => subscriber.next(value),
        error: (error: unknown) => settle({ error }),
        complete: () => settle(null),
      });
    });
  }
}

/**
 * Lets `@nestjs/passport` + `passport-local` code written for express-session
 * run on keycard, on Express: `req.session` (express-session-like, see
 * `ExpressSessionView`), `req.user` from `deserializeUser`,
 * `req.isAuthenticated()`, `req.login()` (which regenerates the session: the
 * pre-login id dies) and `req.logout()`.
 *
 * Import it after `SessionModule`, in place of `app.use(session(...))`,
 * `app.use(passport.initialize())` and `app.use(passport.session())` in
 * main.ts (remove those: they would run before keycard loads the session).
 * Throws at startup on Fastify.
 */
@Module({
  providers: [
    { provide: RESOLVED_OPTIONS, useFactory: resolveOptions, inject: [PASSPORT_COMPAT_OPTIONS] },
    { provide: APP_INTERCEPTOR, useClass: PassportQueueInterceptor },
  ],
})
export class PassportCompatModule extends ConfigurablePassportCompatModule implements NestModule {
  constructor(private readonly adapterHost: HttpAdapterHost) {
    super();
  }

  static override forRoot(options: PassportCompatOptions = {}): DynamicModule {
    return super.forRoot(options);
  }

  static override forRootAsync(options: typeof PASSPORT_COMPAT_ASYNC_OPTIONS_TYPE): DynamicModule {
    return super.forRootAsync(options);
  }

  configure(consumer: MiddlewareConsumer): void {
    const adapter = this.adapterHost.httpAdapter;
    if (!adapter) return; // an application context without HTTP
    const type = adapter.getType();
    if (type !== 'express') {
      throw new InvalidOptionsError(
        `keycard: PassportCompatModule needs @nestjs/platform-express, not "${type}"; ` +
          'on Fastify, sign users in with SessionService.signIn() and read them with @CurrentUser()',
      );
    }
    // '*': every route, mounted after keycard's session middleware (SessionModule mounts it while
    // the modules configure, before any middleware applied through a consumer).
    consumer.apply(PassportSessionMiddleware).forRoutes('*');
  }
}
