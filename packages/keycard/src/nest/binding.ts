import type { ServerResponse } from 'node:http';
import { Logger } from '@nestjs/common';
import type { AppCookies } from '../core/cookie-jar.js';
import { KeycardError } from '../core/errors.js';
import type { SessionManager } from '../core/manager.js';
import type { Session } from '../core/session.js';
import type { RequestInfo } from '../core/session-cookie.js';
import type { ExpressSessionMigration } from '../connect/express-session-migration.js';
import { toHttpException } from './errors.js';
import { cookiesOf } from './cookies.js';
import { installExpressCommitHooks, sharedCommit } from './express-commit.js';
import { JarFlashCookie } from './flash-cookie.js';
import {
  applyHeaders,
  attachReply,
  attachRequestState,
  findSession,
  headersSent,
  putSetCookie,
  rawRequestOf,
  rawResponseOf,
  requestInfoOf,
  type ExpressAdapterShape,
  type ExpressCommitter,
  type ExpressRequestShape,
  type FastifyReplyShape,
  type FastifyShape,
  type RequestLike,
  type ResponseLike,
} from './platform.js';

/**
 * Per-platform glue between a SessionManager and an HTTP server. One instance
 * per application; every per-request function is created once, here.
 */
export class SessionBinding {
  private readonly logger = new Logger('keycard');
  private warnedLateSend = false;
  /** Which platform's hooks are installed. */
  platform: 'express' | 'fastify' | null = null;

  constructor(
    readonly manager: SessionManager,
    /** The application-cookie settings every request's `CookieJar` is made from. */
    private readonly appCookies?: AppCookies,
    /** Signs express-session users in from their old cookie (`migrateFromExpressSession`). */
    private readonly migration?: ExpressSessionMigration,
  ) {}

  /** Runs the express-session migration for a request that carries the old cookie; adds its headers to the response. */
  private async migrate(info: RequestInfo, session: Session, response: ResponseLike): Promise<void> {
    if (this.migration === undefined || !this.migration.presented(info)) return;
    const result = await this.migration.migrate(info, session);
    for (const [, value] of result.headers) putSetCookie(response, value);
  }

  /** What the Express commit hooks call: one object for every request. */
  private readonly committer: ExpressCommitter = {
    store: (request, response) => this.store(request, response),
    refusal: (error) => {
      if (!(error instanceof KeycardError)) return { status: 500, headers: {}, body: { statusCode: 500, message: 'Internal Server Error' } };
      const exception = toHttpException(error);
      return { status: exception.getStatus(), headers: exception.headers, body: exception.getResponse() };
    },
  };

  /**
   * Express: one middleware, mounted before every Nest middleware and route,
   * loads the session; the hooks of `installExpressCommitHooks` commit it
   * before the response is sent.
   */
  bindExpress(adapter: ExpressAdapterShape): void {
    const app = adapter.getInstance();
    const manager = this.manager;
    const appCookies = this.appCookies;
    const committer = this.committer;
    const migrate = (info: RequestInfo, session: Session, response: ResponseLike): Promise<void> => this.migrate(info, session, response);
    async function load(req: ExpressRequestShape, res: ServerResponse): Promise<void> {
      const info = requestInfoOf(req);
      const session = await manager.load(info);
      attachRequestState(req, { session, appCookies, committer });
      session.useFlashCookie(new JarFlashCookie(() => cookiesOf(req)));
      await migrate(info, session, res);
      // Loading may already have rotated the id (roles refreshed elsewhere) or re-signed
      // the cookie: send that now, so that a guard refusing the request still delivers it.
      if (session.hasCookieToSend()) applyHeaders(res, await manager.commit(session));
    }
    // `next` serves as both callbacks: no closure per request.
    app.use(function keycardSession(req, res, next) {
      load(req, res).then(next, next);
    });
    installExpressCommitHooks(adapter);
    this.platform = 'express';
  }

  /**
   * Fastify: `onRequest` loads the session, `onSend` commits it. `onSend` runs
   * for every reply Fastify sends (returned values, exceptions, redirects,
   * `reply.send()` under `@Res()`), before the headers are written.
   */
  bindFastify(instance: FastifyShape): void {
    const manager = this.manager;
    const appCookies = this.appCookies;
    const migrate = (info: RequestInfo, session: Session, response: ResponseLike): Promise<void> => this.migrate(info, session, response);
    instance.addHook('onRequest', async function keycardLoad(request, reply) {
      attachReply(request.raw, reply);
      const info = requestInfoOf(request);
      const session = await manager.load(info);
      attachRequestState(request.raw, { session, appCookies });
      session.useFlashCookie(new JarFlashCookie(() => cookiesOf(request)));
      await migrate(info, session, reply);
    });
    type Done = (error: unknown, payload?: unknown) => void;
    async function commit(reply: FastifyReplyShape, session: Session, payload: unknown, done: Done): Promise<void> {
      try {
        const headers = await manager.commit(session);
        if (headers.length > 0) applyHeaders(reply, headers);
      } catch (error) {
        if (!(error instanceof KeycardError)) return done(error);
        // The handler's answer would claim a write that did not happen: answer with the error instead.
        const exception = toHttpException(error);
        reply.code(exception.getStatus());
        reply.removeHeader('location');
        reply.header('content-type', 'application/json; charset=utf-8');
        for (const [name, value] of Object.entries(exception.headers)) reply.header(name, value);
        return done(null, JSON.stringify(exception.getResponse()));
      }
      done(null, payload);
    }
    instance.addHook('onSend', function keycardCommit(request, reply, payload, done) {
      const session = findSession(request);
      // Reads that wrote nothing (most traffic, signed in or not) finish here, without a promise.
      if (session === undefined || !session.needsCommit()) return done(null, payload);
      void commit(reply, session, payload, done);
    });
    this.platform = 'fastify';
  }

  /**
   * Stores the request's session and copies the commit's headers onto the
   * response, now. Handlers that send the response themselves (`@Res()`)
   * call it through `SessionService.commit`, the GraphQL plugin before
   * Apollo answers. On Express it is the request's one commit, which the
   * hooks wait for instead of starting another.
   */
  commit(request: RequestLike, response: ResponseLike): Promise<void> {
    if (this.platform !== 'express') return this.store(request, response);
    return sharedCommit(rawRequestOf(request), rawResponseOf(response)) ?? Promise.resolve();
  }

  private async store(request: RequestLike, response: ResponseLike): Promise<void> {
    const session = findSession(request);
    if (session === undefined || !session.needsCommit()) return;
    const headers = await this.manager.commit(session);
    if (headers.length === 0) return;
    if (headersSent(response)) {
      this.warnLateSend();
      return;
    }
    applyHeaders(response, headers);
  }

  /** Whether `commit` has anything to do for this request (false for a read that wrote nothing). */
  needsCommit(request: RequestLike): boolean {
    return findSession(request)?.needsCommit() ?? false;
  }

  private warnLateSend(): void {
    if (this.warnedLateSend) return;
    this.warnedLateSend = true;
    this.logger.warn(
      'a response was sent before its session was saved, so its Set-Cookie was lost; ' +
        'handlers that send the response themselves (@Res()) must `await sessionService.commit(req, res)` first',
    );
  }
}
