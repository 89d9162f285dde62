/**
 * Every keycard guard, in every execution context type Nest has (and one it
 * does not), with anonymous, signed-in and admin callers. The regression it
 * pins: the guards began with `if (context.getType() !== 'http') return true`,
 * so every GraphQL resolver was public, `@Roles('admin')` let any socket
 * through and microservice handlers passed the global guard. A guard that
 * returns true for a context it did not check fails the table here: each
 * row expects a refusal for an anonymous or unprivileged caller.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { MemoryStore, SessionManager, type Principal, type Session } from '../src/index.js';
import {
  CsrfGuard,
  CsrfService,
  FreshAuthGuard,
  Public,
  RequireFreshAuth,
  Roles,
  RolesGuard,
  SessionAccessError,
  SessionGuard,
  SessionHttpException,
  SkipCsrf,
} from '../src/nest/index.js';
import { resolveCsrfOptions } from '../src/nest/csrf/csrf.options.js';
import { attachSocketSession } from '../src/nest/context.js';
import { attachRequestState, requestStateOf } from '../src/nest/platform.js';
import type { SocketSession } from '../src/ws/index.js';

const SECRET = 'g'.repeat(32);
const HOUR = 3_600_000;

class Handlers {
  plain(): void {}
  @Public()
  open(): void {}
  @Roles('admin')
  admin(): void {}
  @RequireFreshAuth(60)
  fresh(): void {}
  @Public()
  @Roles('admin')
  openAdmin(): void {}
  @SkipCsrf()
  webhook(): void {}
}
type HandlerName = Exclude<keyof Handlers, 'constructor'>;

type CallerKind = 'anonymous' | 'user' | 'stale-admin' | 'admin';
type ContextKind = 'http' | 'graphql' | 'graphql-subscription' | 'ws' | 'rpc' | 'unknown';
const CONTEXTS: readonly ContextKind[] = ['http', 'graphql', 'graphql-subscription', 'ws', 'rpc', 'unknown'];
const CALLERS: readonly CallerKind[] = ['anonymous', 'user', 'stale-admin', 'admin'];

let now = Date.UTC(2026, 11, 2);
const manager = new SessionManager({
  secrets: SECRET,
  store: new MemoryStore({ sweepInterval: 0, clock: { now: () => now } }),
  clock: { now: () => now },
  idleTimeout: 24 * 3600,
  absoluteTimeout: 48 * 3600,
});
const reflector = new Reflector();
const csrf = new CsrfService(manager, resolveCsrfOptions({}));
const guards: Readonly<Record<string, CanActivate>> = {
  SessionGuard: new SessionGuard(reflector),
  RolesGuard: new RolesGuard(reflector),
  FreshAuthGuard: new FreshAuthGuard(reflector, manager),
  CsrfGuard: new CsrfGuard(reflector, csrf, manager),
};

function principal(kind: CallerKind): Principal | null {
  if (kind === 'anonymous') return null;
  return { id: kind, roles: kind === 'user' ? ['user'] : ['admin'], authVersion: 1 };
}

/** A real request carrying a real keycard Session, as keycard's request hook leaves it. */
async function requestFor(kind: CallerKind, headers: Record<string, string>): Promise<IncomingMessage> {
  const { ':method': method = 'POST', ...rest } = headers;
  const request = new IncomingMessage(new Socket());
  request.method = method;
  request.headers = { host: 'app.example', 'content-type': 'application/json', ...rest };
  const session: Session = await manager.load({ cookieHeader: undefined, secure: false });
  const who = principal(kind);
  // 'stale-admin' signs in now too; the table moves the clock two hours on before asking the guard.
  if (who !== null) await session.signIn(who);
  attachRequestState(request, { session, appCookies: undefined });
  return request;
}

function socketFor(kind: CallerKind, signedInAt: number): object {
  const socket = {};
  const who = principal(kind);
  const session: SocketSession =
    who === null
      ? { handle: 'h-anon', principal: { id: 'gone', roles: ['admin'], authVersion: 1 }, expiresAt: now + HOUR, authenticatedAt: signedInAt, ended: true }
      : { handle: `h-${kind}`, principal: who, expiresAt: now + HOUR, authenticatedAt: signedInAt, ended: false };
  attachSocketSession(socket, session);
  return socket;
}

async function contextFor(kind: ContextKind, caller: CallerKind, handler: HandlerName): Promise<ExecutionContext> {
  const signedInAt = caller === 'stale-admin' ? now - 2 * HOUR : now;
  let args: unknown[];
  let type: string;
  switch (kind) {
    case 'http':
      args = [await requestFor(caller, {}), {}];
      type = 'http';
      break;
    case 'graphql':
      args = [{ parent: true }, {}, { req: await requestFor(caller, {}) }, { operation: { operation: 'query' } }];
      type = 'graphql';
      break;
    case 'graphql-subscription':
      // Nest's Apollo driver puts the graphql-ws context under `req`.
      args = [undefined, {}, { req: { extra: { socket: socketFor(caller, signedInAt) } } }, { operation: { operation: 'subscription' } }];
      type = 'graphql';
      break;
    case 'ws':
      args = [socketFor(caller, signedInAt), { type: 'whoami' }];
      type = 'ws';
      break;
    case 'rpc':
      args = [{ cmd: 'sum' }, {}];
      type = 'rpc';
      break;
    case 'unknown':
      args = [{}, {}];
      type = 'kafka-streams';
      break;
  }
  const context = new ExecutionContextHost(args, Handlers, Handlers.prototype[handler]);
  context.setType(type);
  return context;
}

async function decide(guard: CanActivate, context: ExecutionContext): Promise<'pass' | Error> {
  try {
    const result = await guard.canActivate(context);
    // A keycard guard passes with true or refuses by throwing; false would hide the reason.
    assert.equal(result, true, 'a keycard guard never returns false');
    return 'pass';
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    return error as Error;
  }
}

/** What each guard must decide: the specification, row by row. */
function expected(guard: string, kind: ContextKind, caller: CallerKind, handler: HandlerName): 'pass' | 'refuse' {
  const signedIn = caller !== 'anonymous';
  const isPublic = handler === 'open' || handler === 'openAdmin';
  const needsAdmin = handler === 'admin' || handler === 'openAdmin';
  const needsFresh = handler === 'fresh';
  if (kind === 'unknown') {
    if (guard === 'SessionGuard') return isPublic ? 'pass' : 'refuse';
    if (guard === 'CsrfGuard') return handler === 'webhook' ? 'pass' : 'refuse';
    return 'refuse';
  }
  switch (guard) {
    case 'SessionGuard':
      if (isPublic) return 'pass';
      return kind !== 'rpc' && signedIn ? 'pass' : 'refuse';
    case 'RolesGuard':
      if (!needsAdmin) return 'pass';
      return kind !== 'rpc' && (caller === 'admin' || caller === 'stale-admin') ? 'pass' : 'refuse';
    case 'FreshAuthGuard':
      if (!needsFresh) return 'pass';
      return kind !== 'rpc' && signedIn && caller !== 'stale-admin' ? 'pass' : 'refuse';
    default:
      throw new Error(guard);
  }
}

describe('keycard guards in every execution context', () => {
  for (const guardName of ['SessionGuard', 'RolesGuard', 'FreshAuthGuard']) {
    describe(guardName, () => {
      for (const kind of CONTEXTS) {
        it(`decides every handler and caller in a "${kind}" context as specified`, async () => {
          const guard = guards[guardName] as CanActivate;
          const wrong: string[] = [];
          for (const caller of CALLERS) {
            for (const handler of ['plain', 'open', 'admin', 'fresh', 'openAdmin'] as const) {
              const context = await contextFor(kind, caller, handler);
              if (caller === 'stale-admin') now += 2 * HOUR;
              const outcome = await decide(guard, context);
              if (caller === 'stale-admin') now -= 2 * HOUR;
              const want = expected(guardName, kind, caller, handler);
              const got = outcome === 'pass' ? 'pass' : 'refuse';
              if (got !== want) wrong.push(`${caller} → ${handler}: expected ${want}, got ${outcome === 'pass' ? 'pass' : outcome.message}`);
            }
          }
          assert.deepEqual(wrong, []);
        });
      }
    });
  }

  it('refusals are shaped for their transport: HTTP exceptions, GraphQL extensions, RPC bodies', async () => {
    const guard = guards['SessionGuard'] as CanActivate;
    const http = await decide(guard, await contextFor('http', 'anonymous', 'plain'));
    assert.ok(http instanceof SessionHttpException);
    assert.equal(http.getStatus(), 401);

    const graphql = await decide(guard, await contextFor('graphql', 'anonymous', 'plain'));
    assert.ok(graphql instanceof SessionAccessError);
    assert.deepEqual(graphql.extensions, { code: 'UNAUTHENTICATED', keycardCode: 'KEYCARD_UNAUTHENTICATED' });

    const roles = await decide(guards['RolesGuard'] as CanActivate, await contextFor('graphql', 'user', 'admin'));
    assert.ok(roles instanceof SessionAccessError);
    assert.deepEqual(roles.extensions, { code: 'FORBIDDEN', keycardCode: 'KEYCARD_FORBIDDEN_ROLE' });

    const rpc = await decide(guard, await contextFor('rpc', 'admin', 'plain'));
    assert.ok(rpc instanceof SessionAccessError);
    assert.equal(rpc.body.code, 'KEYCARD_UNAUTHENTICATED');
    assert.match(rpc.message, /microservice \(RPC\) handlers carry no session.*Handlers\.plain.*@Public\(\)/);

    const unknown = await decide(guard, await contextFor('unknown', 'admin', 'plain'));
    assert.ok(unknown instanceof Error);
    assert.equal((unknown as { code?: string }).code, 'KEYCARD_UNSUPPORTED_CONTEXT');
    assert.match(unknown.message, /"kafka-streams".*Handlers\.plain.*@Public\(\).*guard: 'none'/);
  });

  it('an HTTP request with keycard state but no session is refused, even with Object.prototype polluted', async () => {
    const request = new IncomingMessage(new Socket());
    request.method = 'GET';
    request.headers = { host: 'app.example' };
    requestStateOf(request); // state without a session, as a request only the CSRF hook saw has
    const forged = await manager.load({ cookieHeader: undefined, secure: false });
    await forged.signIn({ id: 'forged', roles: ['admin'], authVersion: 1 });
    const prototype = Object.prototype as Record<string, unknown>;
    prototype['session'] = forged;
    try {
      const context = new ExecutionContextHost([request, {}], Handlers, Handlers.prototype.admin);
      context.setType('http');
      for (const name of ['SessionGuard', 'RolesGuard']) assert.notEqual(await decide(guards[name] as CanActivate, context), 'pass', name);
    } finally {
      delete prototype['session'];
    }
  });

  it('a socket keycard did not authenticate is refused, never passed', async () => {
    const context = new ExecutionContextHost([{}, {}], Handlers, Handlers.prototype.plain);
    context.setType('ws');
    for (const name of ['SessionGuard', 'CsrfGuard']) {
      const outcome = await decide(guards[name] as CanActivate, context);
      assert.notEqual(outcome, 'pass', name);
    }
  });
});

describe('CsrfGuard in every execution context', () => {
  async function graphqlContext(operation: string, headers: Record<string, string>, handler: HandlerName = 'plain'): Promise<ExecutionContext> {
    const context = new ExecutionContextHost(
      [{}, {}, { req: await requestFor('user', headers) }, { operation: { operation } }],
      Handlers,
      Handlers.prototype[handler],
    );
    context.setType('graphql');
    return context;
  }
  const refusalCode = (outcome: 'pass' | Error): unknown => (outcome === 'pass' ? 'pass' : (outcome as SessionAccessError).code);
  const guard = guards['CsrfGuard'] as CanActivate;

  it('GraphQL: form encodings and text/plain are refused, for queries and mutations', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'TEXT/PLAIN;charset=utf-8']) {
      for (const operation of ['query', 'mutation']) {
        assert.equal(refusalCode(await decide(guard, await graphqlContext(operation, { 'content-type': type }))), 'KEYCARD_CSRF_CONTENT_TYPE', `${operation} ${type}`);
      }
    }
  });

  it('GraphQL: a mutation over GET is refused; a query over GET passes', async () => {
    assert.equal(refusalCode(await decide(guard, await graphqlContext('mutation', { ':method': 'GET' }))), 'KEYCARD_CSRF_GET_MUTATION');
    assert.equal(refusalCode(await decide(guard, await graphqlContext('query', { ':method': 'GET' }))), 'pass');
  });

  it('GraphQL: a JSON mutation needs a same-site Origin and the token; a JSON query does not', async () => {
    assert.equal(refusalCode(await decide(guard, await graphqlContext('query', {}))), 'pass');
    assert.equal(refusalCode(await decide(guard, await graphqlContext('mutation', {}))), 'KEYCARD_CSRF_MISSING');
    assert.equal(
      refusalCode(await decide(guard, await graphqlContext('mutation', { origin: 'https://evil.example' }))),
      'KEYCARD_CSRF_CROSS_SITE',
    );
    assert.equal(refusalCode(await decide(guard, await graphqlContext('mutation', {}, 'webhook'))), 'pass');
  });

  it('WebSocket and GraphQL subscriptions pass only on keycard sockets (their Origin was checked at the handshake); RPC passes', async () => {
    assert.equal(await decide(guard, await contextFor('ws', 'user', 'plain')), 'pass');
    assert.equal(await decide(guard, await contextFor('graphql-subscription', 'user', 'plain')), 'pass');
    assert.equal(await decide(guard, await contextFor('rpc', 'anonymous', 'plain')), 'pass');
    const bare = new ExecutionContextHost([{}, {}, { req: { extra: { socket: {} } } }, { operation: { operation: 'subscription' } }], Handlers, Handlers.prototype.plain);
    bare.setType('graphql');
    assert.notEqual(await decide(guard, bare), 'pass');
  });

  it('an unknown context type is refused unless @SkipCsrf()', async () => {
    const refused = await decide(guard, await contextFor('unknown', 'user', 'plain'));
    assert.notEqual(refused, 'pass');
    assert.match((refused as Error).message, /CsrfGuard cannot check "kafka-streams".*@SkipCsrf\(\)/);
    assert.equal(await decide(guard, await contextFor('unknown', 'user', 'webhook')), 'pass');
  });

  it('HTTP: an unsafe request without the token is refused, a safe one passes', async () => {
    const post = new ExecutionContextHost([await requestFor('user', {}), {}], Handlers, Handlers.prototype.plain);
    post.setType('http');
    assert.equal(refusalCode(await decide(guard, post)), 'KEYCARD_CSRF_MISSING');
    const get = new ExecutionContextHost([await requestFor('user', { ':method': 'GET' }), {}], Handlers, Handlers.prototype.plain);
    get.setType('http');
    assert.equal(await decide(guard, get), 'pass');
  });
});
