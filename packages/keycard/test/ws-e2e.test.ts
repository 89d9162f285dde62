import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocketGateway } from '@nestjs/websockets';
import { InvalidOptionsError, SessionManager, TokenSigner, cryptoRandom } from '../src/index.js';
import { KeycardWsAdapter, WS_CLOSE_SESSION_ENDED, typedJsonMessages } from '../src/nest/ws/index.js';
import { PLATFORMS, expectCookie, expectStatus, startApp, type Client, type RunningApp } from './support/http.js';
import { SECRET, sessionApp } from './support/session-app.js';
import { DownStore } from './support/stores.js';
import { ConnectionLog, wsApp } from './support/ws-app.js';
import { connect, expectRefused, handshake, type TestSocket } from './support/ws-client.js';

const ALLOWED = 'https://allowed.example';

/** An app with the `/ws` gateway behind `KeycardWsAdapter`; the adapter is kept for its registry. */
interface WsFixture {
  readonly running: RunningApp;
  readonly adapter: KeycardWsAdapter;
}

async function start(
  platform: (typeof PLATFORMS)[number],
  sessionOptions: Parameters<typeof wsApp>[0] = {},
  adapterOptions: ConstructorParameters<typeof KeycardWsAdapter>[1] = {},
  trustProxy = false,
): Promise<WsFixture> {
  let adapter: KeycardWsAdapter | undefined;
  const running = await startApp(platform, wsApp(sessionOptions), {
    trustProxy,
    configure: (app) => {
      adapter = new KeycardWsAdapter(app, { messageParser: typedJsonMessages, ...adapterOptions });
      app.useWebSocketAdapter(adapter);
    },
  });
  return { running, adapter: adapter as KeycardWsAdapter };
}

async function signIn(client: Client, id: string, roles: string[] = ['user']): Promise<string> {
  expectStatus(await client.post('/login', { id, roles }), 201);
  return client.cookieHeader() as string;
}

/** The socket's session handle, as the gateway reports it. */
async function handleOf(socket: TestSocket): Promise<string> {
  const answer = (await socket.ask({ type: 'session' })) as { handle: string };
  return answer.handle;
}

async function expectClosedBySession(socket: TestSocket, since: number, reason = 'session ended'): Promise<number> {
  const closed = await socket.waitForClose(3000, since);
  assert.equal(closed.code, WS_CLOSE_SESSION_ENDED);
  assert.equal(closed.reason, reason);
  return closed.afterMs;
}

for (const platform of PLATFORMS) {
  describe(`keycard/nest/ws on ${platform}`, () => {
    let f: WsFixture;
    const open: TestSocket[] = [];
    const track = (socket: TestSocket): TestSocket => {
      open.push(socket);
      return socket;
    };
    before(async () => {
      f = await start(platform, {}, { allowedOrigins: [ALLOWED] });
    });
    after(async () => {
      await Promise.all(open.map((socket) => socket.close()));
      await f.running.close();
    });

    describe('when the handshake has no signed-in session', () => {
      it('refuses a handshake without a cookie with 401, before any upgrade', async () => {
        expectRefused(await handshake(f.running.url, '/ws'), 401, 'KEYCARD_UNAUTHENTICATED');
      });

      it('refuses a forged cookie with 401 (a valid token under a wrong signature, and garbage)', async () => {
        const client = f.running.client();
        await signIn(client, 'mallory');
        const real = client.cookie('sid') as string;
        const dot = real.indexOf('.');
        const forged = `${real.slice(0, dot)}.${new TokenSigner(['another-secret-0123456789-abcdefghij']).sign('x').split('.')[1]}`;
        expectRefused(await handshake(f.running.url, '/ws', { cookie: `sid=${forged}` }), 401, 'KEYCARD_UNAUTHENTICATED');
        expectRefused(await handshake(f.running.url, '/ws', { cookie: 'sid=%%%garbage' }), 401, 'KEYCARD_UNAUTHENTICATED');
      });

      it('refuses the cookie of an anonymous session (data but nobody signed in) with 401', async () => {
        const client = f.running.client();
        expectStatus(await client.post('/note', { note: 'hello' }), 201);
        assert.ok(client.cookie('sid'), 'the anonymous session has a cookie');
        expectRefused(await handshake(f.running.url, '/ws', { cookie: client.cookieHeader() }), 401, 'KEYCARD_UNAUTHENTICATED');
      });

      it('refuses a cookie whose session was signed out with 401', async () => {
        const client = f.running.client();
        const cookie = await signIn(client, 'ann');
        expectStatus(await client.post('/logout'), 204);
        expectRefused(await handshake(f.running.url, '/ws', { cookie }), 401, 'KEYCARD_UNAUTHENTICATED');
      });
    });

    describe('when the Origin is not ours (cross-site WebSocket hijacking)', () => {
      it('refuses a cross-site Origin with 403 even with a valid cookie', async () => {
        const cookie = await signIn(f.running.client(), 'olga');
        const result = await handshake(f.running.url, '/ws', { cookie, origin: 'https://evil.example' });
        expectRefused(result, 403, 'KEYCARD_FORBIDDEN_ORIGIN');
      });

      it('refuses Origin "null" (sandboxed frames) and a same-host Origin on another port', async () => {
        const cookie = await signIn(f.running.client(), 'olga');
        expectRefused(await handshake(f.running.url, '/ws', { cookie, origin: 'null' }), 403, 'KEYCARD_FORBIDDEN_ORIGIN');
        const otherPort = 'http://127.0.0.1:1';
        expectRefused(await handshake(f.running.url, '/ws', { cookie, origin: otherPort }), 403, 'KEYCARD_FORBIDDEN_ORIGIN');
      });

      it('accepts its own origin, an allow-listed origin, and no Origin at all (non-browser client)', async () => {
        const cookie = await signIn(f.running.client(), 'olga');
        for (const origin of [f.running.url, ALLOWED, undefined]) {
          const socket = track(await connect(f.running.url, '/ws', { cookie, ...(origin ? { origin } : {}) }));
          assert.deepEqual(await socket.ask({ type: 'whoami' }), {
            type: 'whoami',
            user: { id: 'olga', roles: ['user'], authVersion: 1 },
          });
        }
      });
    });

    describe('when the session is signed in', () => {
      it('opens the socket, answers whoami with the principal, and shows the session to handleConnection', async () => {
        const cookie = await signIn(f.running.client(), 'alice', ['user', 'editor']);
        const socket = track(await connect(f.running.url, '/ws', { cookie, origin: f.running.url }));
        assert.deepEqual(await socket.ask({ type: 'whoami' }), {
          type: 'whoami',
          user: { id: 'alice', roles: ['user', 'editor'], authVersion: 1 },
        });
        const handle = await handleOf(socket);
        assert.equal(f.running.app.get(ConnectionLog).handles.at(-1), handle);
      });

      it('ignores frames that are not {"type": ...} JSON and keeps serving', async () => {
        const socket = track(await connect(f.running.url, '/ws', { cookie: await signIn(f.running.client(), 'alice') }));
        socket.send('not json');
        socket.send('[1,2]');
        socket.send({ event: 'whoami' });
        assert.deepEqual(await socket.ask({ type: 'whoami' }), { type: 'whoami', user: { id: 'alice', roles: ['user'], authVersion: 1 } });
      });

      it('closes the socket within 1 s when the session signs out over HTTP', async (t) => {
        const client = f.running.client();
        const socket = await connect(f.running.url, '/ws', { cookie: await signIn(client, 'bob') });
        const started = performance.now();
        expectStatus(await client.post('/logout'), 204);
        const afterMs = await expectClosedBySession(socket, started);
        assert.ok(afterMs < 1000, `closed ${afterMs.toFixed(0)} ms after sign-out`);
        t.diagnostic(`closed ${afterMs.toFixed(1)} ms after the sign-out request started`);
      });

      it('closes the socket within 1 s when the session is revoked by handle, and only that session', async (t) => {
        const mine = await connect(f.running.url, '/ws', { cookie: await signIn(f.running.client(), 'carol') });
        const otherDevice = track(await connect(f.running.url, '/ws', { cookie: await signIn(f.running.client(), 'carol') }));
        const handle = await handleOf(mine);
        const started = performance.now();
        assert.equal(await f.running.app.get(SessionManager).revokeSession('carol', handle), true);
        const afterMs = await expectClosedBySession(mine, started);
        assert.ok(afterMs < 1000, `closed ${afterMs.toFixed(0)} ms after revocation`);
        t.diagnostic(`closed ${afterMs.toFixed(1)} ms after revokeSession was called`);
        assert.equal(otherDevice.isOpen, true);
        assert.equal(((await otherDevice.ask({ type: 'whoami' })) as { type: string }).type, 'whoami');
      });

      it('does not run a handler for a message that arrives after the session ended (the socket is closing)', async () => {
        const socket = await connect(f.running.url, '/ws', { cookie: await signIn(f.running.client(), 'kim') });
        const handle = await handleOf(socket);
        const log = f.running.app.get(ConnectionLog);
        const handled = log.whoamis;
        // The memory store publishes inside the revocation: the server has sent its close frame when this resolves,
        // and the client has not read it yet (no I/O ran meanwhile), so this message reaches a closing socket.
        assert.equal(await f.running.app.get(SessionManager).revokeSession('kim', handle), true);
        assert.equal(socket.isOpen, true);
        socket.send({ type: 'whoami' });
        await expectClosedBySession(socket, performance.now());
        // The message was in before the client's close reply; make sure the server read it: one more round trip on another socket.
        const probe = track(await connect(f.running.url, '/ws', { cookie: await signIn(f.running.client(), 'kim') }));
        await probe.ask({ type: 'whoami' });
        assert.equal(log.whoamis, handled + 1, 'only the probe was handled');
      });

      it('closes every socket of a session at once, and all of a user\'s sessions on "sign out everywhere"', async () => {
        const phone = f.running.client();
        const laptop = f.running.client();
        const phoneCookie = await signIn(phone, 'dave');
        const laptopCookie = await signIn(laptop, 'dave');
        const tabs = [
          await connect(f.running.url, '/ws', { cookie: phoneCookie }),
          await connect(f.running.url, '/ws', { cookie: phoneCookie }),
          await connect(f.running.url, '/ws', { cookie: laptopCookie }),
        ];
        const bystander = track(await connect(f.running.url, '/ws', { cookie: await signIn(f.running.client(), 'erin') }));
        const started = performance.now();
        expectStatus(await phone.post('/revoke-all'), 204);
        for (const tab of tabs) assert.ok((await expectClosedBySession(tab, started)) < 1000);
        assert.equal(bystander.isOpen, true);
      });

      it('delivers the rotated cookie on the 101 when the roles changed (the old cookie is dead by then)', async () => {
        const client = f.running.client();
        const oldCookie = await signIn(client, 'frank');
        expectStatus(await client.post('/refresh-principal', { id: 'frank', roles: ['admin'] }), 201);
        const result = await handshake(f.running.url, '/ws', { cookie: oldCookie });
        assert.ok(result.open, 'the handshake is accepted');
        const setCookies = result.headers['set-cookie'] ?? [];
        assert.equal(setCookies.length, 1, `one Set-Cookie on the 101: ${JSON.stringify(setCookies)}`);
        const fresh = (setCookies[0] as string).split(';')[0] as string;
        assert.notEqual(fresh, oldCookie);
        track(result.socket);
        assert.deepEqual(await result.socket.ask({ type: 'whoami' }), {
          type: 'whoami',
          user: { id: 'frank', roles: ['admin'], authVersion: 1 },
        });
        const fork = f.running.client();
        fork.setCookie('sid', fresh.slice('sid='.length));
        expectStatus(await fork.get('/me'), 200);
        expectRefused(await handshake(f.running.url, '/ws', { cookie: oldCookie }), 401, 'KEYCARD_UNAUTHENTICATED');
      });

      it('stops watching a socket once the client closes it', async () => {
        const before = f.adapter.registry.size;
        const socket = await connect(f.running.url, '/ws', { cookie: await signIn(f.running.client(), 'gina') });
        assert.equal(f.adapter.registry.size, before + 1);
        await socket.close();
        // The server's close event can trail the client's by a turn of the event loop: wait for it, bounded.
        const deadline = performance.now() + 1000;
        while (f.adapter.registry.size !== before && performance.now() < deadline) await new Promise((r) => setImmediate(r));
        assert.equal(f.adapter.registry.size, before);
      });
    });
  });

  describe(`keycard/nest/ws on ${platform} when the session times out`, () => {
    let f: WsFixture;
    before(async () => {
      // Half a second of idleness ends the session; nothing touches it once the socket is open.
      f = await start(platform, { idleTimeout: 0.5 });
    });
    after(() => f.running.close());

    it('closes the socket with "session expired" when the idle timeout passes, not before', async () => {
      const client = f.running.client();
      const started = performance.now();
      const socket = await connect(f.running.url, '/ws', { cookie: await signIn(client, 'hugo') });
      const afterMs = await expectClosedBySession(socket, started, 'session expired');
      assert.ok(afterMs >= 450, `closed ${afterMs.toFixed(0)} ms after sign-in, before the 500 ms idle timeout`);
      assert.ok(afterMs < 1500, `closed ${afterMs.toFixed(0)} ms after sign-in, long after the 500 ms idle timeout`);
      expectStatus(await client.get('/me'), 401);
    });
  });

  describe(`keycard/nest/ws on ${platform} behind a trusted proxy`, () => {
    let f: WsFixture;
    before(async () => {
      f = await start(platform, {}, { trustProxy: true }, true);
    });
    after(() => f.running.close());

    it('reads the secure cookie name and the public host from X-Forwarded-Proto and -Host', async () => {
      const client = f.running.client();
      const proxied = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example' };
      const login = await client.post('/login', { id: 'ivan' }, proxied);
      expectStatus(login, 201);
      expectCookie(login, '__Host-sid', { secure: true });
      const cookie = client.cookieHeader() as string;
      const socket = await connect(f.running.url, '/ws', { cookie, origin: 'https://app.example', headers: proxied });
      assert.equal(((await socket.ask({ type: 'whoami' })) as { user: { id: string } }).user.id, 'ivan');
      await socket.close();
      // Without the proxy's word the handshake is plain http: the __Host- cookie is not the one it looks for.
      expectRefused(await handshake(f.running.url, '/ws', { cookie }), 401, 'KEYCARD_UNAUTHENTICATED');
      // And the public host is what the Origin is compared with.
      expectRefused(
        await handshake(f.running.url, '/ws', { cookie, origin: f.running.url, headers: proxied }),
        403,
        'KEYCARD_FORBIDDEN_ORIGIN',
      );
    });
  });

  describe(`keycard/nest/ws on ${platform} when the session store is down`, () => {
    let running: RunningApp;
    before(async () => {
      running = (await start(platform, { store: new DownStore('reject') })).running;
    });
    after(() => running.close());

    it('refuses a signed cookie with 503, and a handshake without a cookie still with 401', async () => {
      const signer = new TokenSigner([SECRET]);
      const cookie = `sid=${signer.sign(signer.newToken(cryptoRandom))}`;
      expectRefused(await handshake(running.url, '/ws', { cookie }), 503, 'KEYCARD_STORE_UNAVAILABLE');
      expectRefused(await handshake(running.url, '/ws'), 401, 'KEYCARD_UNAUTHENTICATED');
    });
  });
}

@WebSocketGateway({ path: '/own', verifyClient: () => true })
class OwnVerifyGateway {}

// Bootstrap errors do not depend on the platform: Express alone keeps these quick.
describe('KeycardWsAdapter when misconfigured', () => {
  const expectBootstrapError = async (
    root: Parameters<typeof startApp>[1],
    options: ConstructorParameters<typeof KeycardWsAdapter>[1],
    message: string,
  ): Promise<void> => {
    await assert.rejects(
      startApp('express', root, {
        configure: (app) => {
          app.useWebSocketAdapter(new KeycardWsAdapter(app, options));
        },
      }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidOptionsError, String(error));
        assert.equal(error.message, message);
        return true;
      },
    );
  };

  it('fails the bootstrap without SessionModule, saying what to import', async () => {
    await expectBootstrapError({ providers: [] }, {}, 'keycard: KeycardWsAdapter needs SessionModule.forRoot() (or forRootAsync) in the application module');
  });

  it('fails the bootstrap on an allowedOrigins entry that is not an origin, a trustProxy that is no trust rule, or a message limit that is no positive whole number', async () => {
    await expectBootstrapError(
      sessionApp(),
      { allowedOrigins: ['https://app.example.com/'] },
      'keycard: allowedOrigins entry "https://app.example.com/" is not an origin; write it as the browser sends it, e.g. "https://app.example.com" (scheme, host and port only)',
    );
    await expectBootstrapError(
      sessionApp(),
      { trustProxy: 'yes' },
      'keycard: trustProxy "yes" is not a list of addresses or CIDRs (invalid IP address: yes)',
    );
    await expectBootstrapError(sessionApp(), { trustProxy: -1 }, 'keycard: trustProxy must be a whole number of hops, got -1');
    await expectBootstrapError(sessionApp(), { maxMessageBytes: 0 }, 'keycard: maxMessageBytes must be a positive whole number, got 0');
    await expectBootstrapError(sessionApp(), { maxMessagesPerSecond: 2.5 }, 'keycard: maxMessagesPerSecond must be a positive whole number, got 2.5');
  });

  it("refuses the registry's options on the adapter, saying they are SessionModule's (one registry per application)", async () => {
    await expectBootstrapError(
      sessionApp(),
      { revalidateInterval: 60 } as ConstructorParameters<typeof KeycardWsAdapter>[1],
      'keycard: KeycardWsAdapter option revalidateInterval belongs to SessionModule.forRoot({ sockets: { revalidateInterval } }): one registry watches every socket of the application',
    );
  });

  it('fails the bootstrap on a bad sockets option of SessionModule', async () => {
    await expectBootstrapError(sessionApp({ sockets: { closeGrace: -1 } }), {}, 'keycard: closeGrace must be a positive number of seconds (or Infinity), got -1');
  });

  it('fails the bootstrap for a gateway with its own verifyClient: one place decides the handshake', async () => {
    const root = sessionApp();
    await expectBootstrapError(
      { ...root, providers: [...(root.providers ?? []), OwnVerifyGateway] },
      {},
      "keycard: KeycardWsAdapter decides the handshake itself; drop the gateway's verifyClient and check socketSession(client) in handleConnection",
    );
  });
});
