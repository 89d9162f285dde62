/**
 * GraphQL behind keycard, over real HTTP with the real drivers: Apollo
 * (@nestjs/apollo + @apollo/server) on Express and Mercurius
 * (@nestjs/mercurius) on Fastify, code-first and schema-first. Regression:
 * the guards skipped every non-HTTP context, so every resolver was public,
 * `@CurrentUser()` read the resolver's parent object, and on Mercurius a
 * cross-site form post ran a mutation with the victim's cookie.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'graphql-ws';
import { WebSocket } from 'ws';
import { graphqlApp, graphqlModuleWithSubscriptions, SideEffects, Ticker, type SchemaStyle } from './support/graphql-app.js';
import { within } from './support/poll.js';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { ModuleRef } from '@nestjs/core';
import { MemoryStore, SessionManager } from '../src/index.js';
import { GraphqlSubscriptionAuth, SocketRegistry } from '../src/nest/index.js';
import { Client, expectCookie, expectHeader, PLATFORMS, startApp, type HttpResult, type RunningApp } from './support/http.js';

interface GraphqlError {
  readonly message: string;
  readonly extensions?: { readonly code?: string; readonly keycardCode?: string };
}
interface GraphqlBody {
  readonly data?: Record<string, unknown> | null;
  readonly errors?: readonly GraphqlError[];
}

function gql(client: Client, query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<HttpResult> {
  return client.fetch('/graphql', { method: 'POST', json: { query, variables }, headers });
}

function bodyOf(result: HttpResult): GraphqlBody {
  return result.body as GraphqlBody;
}

/** A GraphQL refusal: a 200 with an error carrying both codes, never a 500, and no data for the field. */
function expectRefused(result: HttpResult, code: string, keycardCode: string): void {
  assert.notEqual(result.status, 500, result.text);
  const errors = bodyOf(result).errors ?? [];
  assert.equal(errors.length, 1, result.text);
  assert.equal(errors[0]?.extensions?.code, code, result.text);
  assert.equal(errors[0]?.extensions?.keycardCode, keycardCode, result.text);
}

async function csrfToken(client: Client): Promise<string> {
  const result = await client.get('/csrf');
  return (result.body as { token: string }).token;
}

/** Signs `client` in through the sign-in mutation (with the pre-session CSRF token, as a browser app would). */
async function signIn(client: Client, id: string, admin = false): Promise<HttpResult> {
  const token = await csrfToken(client);
  const result = await gql(client, 'mutation($id: String!, $admin: Boolean) { signIn(id: $id, admin: $admin) { id roles } }', { id, admin }, {
    'x-csrf-token': token,
  });
  assert.deepEqual(bodyOf(result).data, { signIn: { id, roles: [admin ? 'admin' : 'user'] } }, result.text);
  return result;
}

/** The same forged request a page on evil.example can send with the victim's cookie: a form or a no-cors fetch. */
async function forged(app: RunningApp, victim: Client, contentType: string, body: string): Promise<number> {
  const response = await fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': contentType, cookie: victim.cookieHeader() ?? '', origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

for (const platform of PLATFORMS) {
  for (const style of ['code-first', 'schema-first'] as const satisfies readonly SchemaStyle[]) {
    describe(`GraphQL on ${platform} (${platform === 'express' ? 'Apollo' : 'Mercurius'}, ${style})`, () => {
      let app: RunningApp;
      let effects: SideEffects;

      before(async () => {
        app = await startApp(platform, graphqlApp(platform, style));
        effects = app.app.get(SideEffects);
      });
      after(() => app.close());

      it('an anonymous query of an undecorated resolver is refused with UNAUTHENTICATED', async () => {
        expectRefused(await gql(app.client(), '{ me { id } }'), 'UNAUTHENTICATED', 'KEYCARD_UNAUTHENTICATED');
      });

      it('a @Public() resolver answers anonymous queries; @CurrentUser() there is null, not the parent object', async () => {
        const result = await gql(app.client(), '{ hello whoami }');
        assert.deepEqual(bodyOf(result), { data: { hello: 'world', whoami: null } });
      });

      it('the sign-in mutation sets the session cookie like a controller, and the next query sees the user', async () => {
        const client = app.client();
        const result = await signIn(client, 'ann');
        expectCookie(result, 'sid', { httpOnly: true, path: '/' });
        expectHeader(result, 'cache-control', 'no-store');
        const me = await gql(client, '{ me { id roles } whoami }');
        assert.deepEqual(bodyOf(me).data, { me: { id: 'ann', roles: ['user'] }, whoami: 'ann' });
      });

      it('signing in again rotates the id: the old cookie is dead at once', async () => {
        const client = app.client();
        await signIn(client, 'bob');
        const before = client.fork();
        const second = await signIn(client, 'bob');
        assert.notEqual(expectCookie(second, 'sid').value, before.cookie('sid'));
        expectRefused(await gql(before, '{ me { id } }'), 'UNAUTHENTICATED', 'KEYCARD_UNAUTHENTICATED');
        assert.deepEqual(bodyOf(await gql(client, '{ whoami }')).data, { whoami: 'bob' });
      });

      it('@Roles("admin") refuses a user with FORBIDDEN and answers an admin', async () => {
        const user = app.client();
        await signIn(user, 'carl');
        expectRefused(await gql(user, '{ adminSecret }'), 'FORBIDDEN', 'KEYCARD_FORBIDDEN_ROLE');
        const admin = app.client();
        await signIn(admin, 'dana', true);
        assert.deepEqual(bodyOf(await gql(admin, '{ adminSecret }')).data, { adminSecret: 'admin-only' });
      });

      it('the sign-out mutation clears the cookie with Clear-Site-Data and ends the session', async () => {
        const client = app.client();
        await signIn(client, 'erin');
        const stolen = client.fork();
        const token = await csrfToken(client);
        const result = await gql(client, 'mutation { signOut }', undefined, { 'x-csrf-token': token });
        assert.deepEqual(bodyOf(result).data, { signOut: true }, result.text);
        expectCookie(result, 'sid', { cleared: true });
        expectHeader(result, 'clear-site-data', '"cookies"');
        expectHeader(result, 'cache-control', 'no-store');
        expectRefused(await gql(stolen, '{ me { id } }'), 'UNAUTHENTICATED', 'KEYCARD_UNAUTHENTICATED');
      });

      it('field resolvers read the loaded session: one store lookup per request, however many fields', async (t) => {
        if (style !== 'code-first') return t.skip('the field resolver is code-first');
        const client = app.client();
        await signIn(client, 'hana');
        const manager = app.app.get(SessionManager);
        const store = manager.store;
        // A lookup is a store find or, with the session cache on (the default for this memory
        // store), a cache hit: the request's session must be looked up once either way.
        const hits = (): number => manager.cacheStats()?.hits ?? 0;
        const hitsBefore = hits();
        let finds = 0;
        const find = store.find.bind(store);
        store.find = (...args: Parameters<typeof find>) => {
          finds++;
          return find(...args);
        };
        try {
          const result = await gql(client, '{ a: me { greeting } b: me { id greeting } c: me { greeting } }');
          assert.deepEqual(bodyOf(result).data, {
            a: { greeting: 'hana seen by hana' },
            b: { id: 'hana', greeting: 'hana seen by hana' },
            c: { greeting: 'hana seen by hana' },
          });
          assert.equal(finds + hits() - hitsBefore, 1);
        } finally {
          store.find = find;
        }
      });

      it('a cross-site text/plain, form-encoded or multipart mutation, or a GET mutation, does not run', async () => {
        const victim = app.client();
        await signIn(victim, 'fred');
        const mutation = 'mutation { addNote(note: "forged") }';
        effects.notes.length = 0;
        const statuses = [
          await forged(app, victim, 'text/plain', JSON.stringify({ query: mutation })),
          await forged(app, victim, 'application/x-www-form-urlencoded', new URLSearchParams({ query: mutation }).toString()),
          await forged(app, victim, 'multipart/form-data; boundary=x', `--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n${mutation}\r\n--x--\r\n`),
        ];
        const viaGet = await fetch(`${app.url}/graphql?query=${encodeURIComponent(mutation)}`, { headers: { cookie: victim.cookieHeader() ?? '' } });
        await viaGet.arrayBuffer();
        assert.deepEqual(effects.notes, [], `side effect of a forged request (statuses ${statuses.join(', ')}, GET ${viaGet.status})`);
        for (const status of [...statuses, viaGet.status]) assert.ok(status < 500, `status ${status}`);
      });

      it('a cookie-authenticated JSON mutation needs the CSRF token and a same-site Origin; with both it runs', async () => {
        const client = app.client();
        await signIn(client, 'gina');
        effects.notes.length = 0;
        const mutation = 'mutation { addNote(note: "mine") }';
        expectRefused(await gql(client, mutation), 'FORBIDDEN', 'KEYCARD_CSRF_MISSING');
        const token = await csrfToken(client);
        expectRefused(await gql(client, mutation, undefined, { 'x-csrf-token': token, origin: 'http://evil.example' }), 'FORBIDDEN', 'KEYCARD_CSRF_CROSS_SITE');
        assert.deepEqual(effects.notes, []);
        assert.deepEqual(bodyOf(await gql(client, mutation, undefined, { 'x-csrf-token': token, origin: app.url })).data, { addNote: true });
        assert.deepEqual(effects.notes, ['mine']);
      });
    });
  }
}

/** A graphql-ws client (the real one) that sends `cookie` on the upgrade, as a browser on the same site does. */
function subscriptionClient(app: RunningApp, cookie: string | null) {
  class CookieWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { headers: cookie ? { cookie, origin: app.url } : { origin: app.url } });
    }
  }
  let closed: (code: number) => void = () => undefined;
  const closedWith = new Promise<number>((resolve) => (closed = resolve));
  const client = createClient({
    url: `${app.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: CookieWebSocket,
    retryAttempts: 0,
    lazy: false,
    on: { closed: (event) => closed((event as { code: number }).code) },
  });
  return { client, closedWith };
}

/** A raw upgrade to the subscription endpoint: the HTTP status of a refusal, or 101. */
function upgradeStatus(app: RunningApp, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${app.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', { headers });
    socket.once('open', () => {
      socket.close();
      resolve({ status: 101, body: '' });
    });
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    socket.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

for (const platform of PLATFORMS) {
  for (const style of ['code-first', 'schema-first'] as const satisfies readonly SchemaStyle[]) {
    describe(`GraphQL subscriptions on ${platform} (${platform === 'express' ? 'Apollo + graphql-ws' : 'Mercurius'}, ${style})`, () => {
      let app: RunningApp;
      let ticker: Ticker;

      before(async () => {
        app = await startApp(platform, graphqlApp(platform, style, {}, graphqlModuleWithSubscriptions(platform, style)));
        ticker = app.app.get(Ticker);
      });
      after(() => app.close());

      it('an upgrade without a session is refused with 401 before any socket exists', async () => {
        const refused = await upgradeStatus(app, { origin: app.url });
        assert.equal(refused.status, 401);
        assert.equal((JSON.parse(refused.body) as { code: string }).code, 'KEYCARD_UNAUTHENTICATED');
      });

      it('a cross-site Origin is refused with 403 on the upgrade, even with a live session cookie', async () => {
        const browser = app.client();
        await signIn(browser, `origin-victim-${style}`);
        const refused = await upgradeStatus(app, { origin: 'http://evil.example', cookie: browser.cookieHeader() ?? '' });
        assert.equal(refused.status, 403);
        assert.equal((JSON.parse(refused.body) as { code: string }).code, 'KEYCARD_FORBIDDEN_ORIGIN');
        assert.equal((await upgradeStatus(app, { origin: app.url, cookie: browser.cookieHeader() ?? '' })).status, 101, 'the same cookie from the site itself');
      });

      it('the graphql-ws client without a session never connects and receives nothing', async () => {
        const { client, closedWith } = subscriptionClient(app, null);
        const events: unknown[] = [];
        client.subscribe({ query: 'subscription { ticks }' }, { next: (value) => events.push(value), error: () => undefined, complete: () => undefined });
        // The upgrade was answered 401: the client's socket never opened (abnormal closure, 1006).
        assert.equal(await closedWith, 1006);
        assert.deepEqual(events, []);
        await client.dispose();
      });

      it('a signed-in subscription receives events and is closed with 4401 within 1 s of signing out', async () => {
        const browser = app.client();
        await signIn(browser, `sub-user-${style}`);
        const { client, closedWith } = subscriptionClient(app, browser.cookieHeader());
        const events: unknown[] = [];
        client.subscribe({ query: 'subscription { ticks }' }, { next: (value) => events.push(value), error: () => undefined, complete: () => undefined });
        await within(3000, async () => ticker.subscribers > 0, 'the subscription to reach the resolver');
        ticker.tick('one');
        await within(3000, async () => events.length === 1, 'the first event');
        assert.deepEqual(events, [{ data: { ticks: 'one' } }]);
        const registry = app.app.get(SocketRegistry);
        assert.equal(registry.size, 1, "tracked in the application's one registry");
        const token = await csrfToken(browser);
        const started = performance.now();
        const signedOut = await gql(browser, 'mutation { signOut }', undefined, { 'x-csrf-token': token });
        assert.deepEqual(bodyOf(signedOut).data, { signOut: true }, signedOut.text);
        assert.equal(await closedWith, 4401);
        const ms = performance.now() - started;
        assert.ok(ms < 1000, `closed ${ms.toFixed(0)} ms after the sign-out`);
        await client.dispose();
      });
    });
  }
}

describe("GraphqlSubscriptionAuth when Apollo's ws server cannot be reached", () => {
  it('still refuses in onConnect (the 4403 fallback): no session, no subscription', async () => {
    const manager = new SessionManager({ secrets: ['fallback-secret-0123456789abcdef'], store: new MemoryStore() });
    const registry = new SocketRegistry(manager);
    const unreachable = { get: () => { throw new Error('no GraphQLModule here'); } } as unknown as ModuleRef;
    const auth = new GraphqlSubscriptionAuth(manager, registry, unreachable);
    const hooks = auth.graphqlWs();
    await auth.onApplicationBootstrap();
    const request = new IncomingMessage(new Socket());
    request.headers = { host: '127.0.0.1:1', origin: 'http://127.0.0.1:1' };
    const socket = { close: () => undefined, terminate: () => undefined, once: () => undefined };
    assert.equal(await hooks.onConnect({ extra: { socket, request } }), false);
    assert.equal(registry.size, 0);
    await registry.close();
  });
});
