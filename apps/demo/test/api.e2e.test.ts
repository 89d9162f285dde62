import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SessionManager, StoreUnavailableError } from 'keycard';
import { PasswordHasher } from 'keycard/password';
import { UsersRepository, type NewUser } from '../src/users/users.repository.js';
import { PASSWORD, registerAccount, signInAgain, type Account } from './support/accounts.js';
import { Client, cookieAttributes, type Reply } from './support/http-client.js';
import { openSocket, refusedStatus } from './support/ws-client.js';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  LOGIN_MAX_ATTEMPTS,
  MAX_SESSIONS_PER_USER,
  PLATFORMS,
  startTestApp,
  uniqueEmail,
  uniqueIp,
  type TestApp,
} from './support/test-app.js';

/** Every row of SPEC "JSON API", on both platforms, over real HTTP against the real app. */

const USER_KEYS = ['email', 'id', 'name', 'roles'];
const SESSION_KEYS = ['createdAt', 'current', 'id', 'ip', 'lastSeenAt', 'userAgent'];
const MISSING_USER = '00000000-0000-4000-8000-000000000000';

function expectStatus(reply: Reply, status: number): void {
  assert.equal(reply.status, status, `expected ${status}, got ${reply.status}: ${reply.text.slice(0, 300)}`);
}

/** A 4xx with a JSON body that says what is wrong. */
function expectClientError(reply: Reply, status?: number): void {
  if (status !== undefined) expectStatus(reply, status);
  assert.ok(reply.status >= 400 && reply.status < 500, `expected a 4xx, got ${reply.status}: ${reply.text.slice(0, 300)}`);
  assert.equal(typeof reply.json?.message, 'string', `no JSON message in: ${reply.text.slice(0, 300)}`);
  assert.ok(reply.json.message.length > 0);
}

function expectUser(user: unknown, expected: { email?: string; name?: string; roles?: string[] } = {}): void {
  assert.ok(user && typeof user === 'object');
  assert.deepEqual(Object.keys(user).sort(), USER_KEYS, 'user is exactly {id, email, name, roles}');
  const u = user as Record<string, unknown>;
  if (expected.email) assert.equal(u['email'], expected.email);
  if (expected.name) assert.equal(u['name'], expected.name);
  if (expected.roles) assert.deepEqual([...(u['roles'] as string[])].sort(), [...expected.roles].sort());
}

function sessionCookie(client: Client): string | undefined {
  return client.cookies.get('sid') ?? client.cookies.get('__Host-sid');
}

const NEW_PASSWORD = 'a brand new passphrase';

interface Gate {
  /** Resolves once the held call has started (the user row has been read by then). */
  readonly entered: Promise<void>;
  release(): void;
}

/**
 * Holds the next `PasswordHasher.verify` (the ~60 ms a sign-in spends after
 * reading the user row) until `release`, so a test can run a password or
 * role change inside that window deterministically. Later calls pass
 * through. `rehash` makes a successful check report an outdated hash.
 */
function holdNextVerify(hasher: PasswordHasher, options: { rehash?: boolean } = {}): Gate {
  const original = PasswordHasher.prototype.verify;
  let entered!: () => void;
  let release!: () => void;
  const enteredPromise = new Promise<void>((resolve) => (entered = resolve));
  const released = new Promise<void>((resolve) => (release = resolve));
  hasher.verify = async (hash: string, password: string) => {
    delete (hasher as { verify?: unknown }).verify;
    entered();
    await released;
    const result = await original.call(hasher, hash, password);
    return options.rehash && result.ok ? { ...result, needsRehash: true } : result;
  };
  return { entered: enteredPromise, release };
}

/** The ADMIN_EMAIL account, provisioned at start-up with ADMIN_PASSWORD, signed in on a new client. */
async function adminAccount(base: string): Promise<Account> {
  const client = new Client(base, 'admin', uniqueIp());
  expectStatus(await client.post('/api/auth/login', { json: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } }), 200);
  const me = await client.get('/api/auth/me');
  expectStatus(me, 200);
  return { client, email: ADMIN_EMAIL, password: ADMIN_PASSWORD, id: me.json.user.id };
}

for (const platform of PLATFORMS) {
  describe(`JSON API on ${platform}`, () => {
    let app: TestApp;
    let base: string;

    before(async () => {
      app = await startTestApp(platform);
      base = app.url;
    });
    after(async () => {
      await app?.close();
    });

    describe('GET /api/health', () => {
      it('200 {status, store} while the store answers', async () => {
        const reply = await new Client(base).get('/api/health');
        expectStatus(reply, 200);
        assert.deepEqual(reply.json, { status: 'ok', store: 'up' });
      });
    });

    describe('GET /api/auth/csrf', () => {
      it('200 {token}', async () => {
        const reply = await new Client(base).get('/api/auth/csrf');
        expectStatus(reply, 200);
        assert.deepEqual(Object.keys(reply.json), ['token']);
        assert.equal(typeof reply.json.token, 'string');
      });
    });

    describe('POST /api/auth/register', () => {
      it('201 {user}, signed in with an HttpOnly session cookie', async () => {
        const client = new Client(base, 'test', uniqueIp());
        const email = uniqueEmail();
        const reply = await client.post('/api/auth/register', { json: { email, password: PASSWORD, name: 'Ann' } });
        expectStatus(reply, 201);
        expectUser(reply.json.user, { email, name: 'Ann', roles: ['user'] });
        assert.ok(!reply.text.includes('argon2'), 'no password hash in the body');
        const cookie = cookieAttributes(reply, 'sid');
        assert.ok(cookie, `sid cookie set over plain HTTP: ${reply.setCookies.join(' | ')}`);
        assert.ok(cookie.has('httponly'));
        assert.equal(cookie.get('samesite')?.toLowerCase(), 'lax');
        assert.equal(cookie.get('path'), '/');
        const me = await client.get('/api/auth/me');
        expectStatus(me, 200);
        assert.deepEqual(me.json.user, reply.json.user);
      });

      it('400 for invalid input of every kind, and nothing is created', async () => {
        const email = uniqueEmail();
        const bad: [string, { json?: unknown; raw?: string; contentType?: string }][] = [
          ['malformed JSON', { raw: '{"email": "x@example.test",' }],
          ['a JSON string', { raw: '"hello"' }],
          ['a JSON array', { json: [email, PASSWORD, 'Ann'] }],
          ['an empty object', { json: {} }],
          ['a missing password', { json: { email, name: 'Ann' } }],
          ['a missing name', { json: { email, password: PASSWORD } }],
          ['a number for email', { json: { email: 42, password: PASSWORD, name: 'Ann' } }],
          ['an object for password', { json: { email, password: { $gt: '' }, name: 'Ann' } }],
          ['a malformed email', { json: { email: 'not-an-email', password: PASSWORD, name: 'Ann' } }],
          ['a 7-character password', { json: { email, password: '1234567', name: 'Ann' } }],
          ['a 129-character password', { json: { email, password: 'p'.repeat(129), name: 'Ann' } }],
          ['an empty name', { json: { email, password: PASSWORD, name: '   ' } }],
          ['a plain-text body', { raw: 'email=x', contentType: 'text/plain' }],
        ];
        for (const [what, body] of bad) {
          const reply = await new Client(base, 'test', uniqueIp()).post('/api/auth/register', body);
          assert.ok(reply.status === 400 || reply.status === 415, `${what}: got ${reply.status} ${reply.text}`);
          expectClientError(reply);
          assert.equal(reply.setCookies.length, 0, `${what}: no cookie`);
        }
        const login = await new Client(base, 'test', uniqueIp()).post('/api/auth/login', { json: { email, password: PASSWORD } });
        expectStatus(login, 401);
      });

      it('accepts passwords of exactly 8 and 128 characters', async () => {
        for (const password of ['12345678', 'p'.repeat(128)]) {
          const reply = await new Client(base, 'test', uniqueIp()).post('/api/auth/register', {
            json: { email: uniqueEmail(), password, name: 'Edge' },
          });
          expectStatus(reply, 201);
        }
      });

      it('4xx (413) for an oversized body, never a 5xx', async () => {
        const reply = await new Client(base, 'test', uniqueIp()).post('/api/auth/register', {
          json: { email: uniqueEmail(), password: PASSWORD, name: 'x'.repeat(64 * 1024) },
        });
        expectClientError(reply, 413);
      });

      it('409 when the email is taken, whatever its case', async () => {
        const email = uniqueEmail('Case');
        await registerAccount(base, { email });
        const reply = await new Client(base, 'test', uniqueIp()).post('/api/auth/register', {
          json: { email: email.toUpperCase(), password: PASSWORD, name: 'Copy' },
        });
        expectClientError(reply, 409);
        assert.equal(reply.setCookies.length, 0);
      });
    });

    describe('POST /api/auth/login', () => {
      it('200 {user} under a new session id; the old id is dead', async () => {
        const account = await registerAccount(base);
        const before = sessionCookie(account.client);
        const stolen = account.client.clone();
        const reply = await account.client.post('/api/auth/login', { json: { email: account.email, password: PASSWORD } });
        expectStatus(reply, 200);
        expectUser(reply.json.user, { email: account.email });
        const afterLogin = sessionCookie(account.client);
        assert.ok(afterLogin && afterLogin !== before, 'a new session cookie');
        expectStatus(await account.client.get('/api/auth/me'), 200);
        expectStatus(await stolen.get('/api/auth/me'), 401);
      });

      it('finds the account whatever the case of the email', async () => {
        const account = await registerAccount(base, { email: uniqueEmail('Mixed') });
        const reply = await new Client(base, 'test', uniqueIp()).post('/api/auth/login', {
          json: { email: account.email.toUpperCase(), password: PASSWORD },
        });
        expectStatus(reply, 200);
      });

      it('401 with the same body for an unknown email and a wrong password', async () => {
        const account = await registerAccount(base);
        const client = new Client(base, 'test', uniqueIp());
        const wrong = await client.post('/api/auth/login', { json: { email: account.email, password: 'wrong password' } });
        const unknown = await client.post('/api/auth/login', { json: { email: uniqueEmail(), password: 'wrong password' } });
        expectClientError(wrong, 401);
        expectStatus(unknown, 401);
        assert.equal(unknown.text, wrong.text);
        assert.equal(wrong.setCookies.length + unknown.setCookies.length, 0);
      });

      it('remember: a persistent cookie; without it a browser-session cookie', async () => {
        const account = await registerAccount(base);
        const plain = await new Client(base, 'test', uniqueIp()).post('/api/auth/login', {
          json: { email: account.email, password: PASSWORD },
        });
        assert.equal(cookieAttributes(plain, 'sid')?.has('max-age'), false);
        const remembered = await new Client(base, 'test', uniqueIp()).post('/api/auth/login', {
          json: { email: account.email, password: PASSWORD, remember: true },
        });
        expectStatus(remembered, 200);
        assert.ok(Number(cookieAttributes(remembered, 'sid')?.get('max-age')) > 24 * 3600);
        expectClientError(
          await new Client(base, 'test', uniqueIp()).post('/api/auth/login', {
            json: { email: account.email, password: PASSWORD, remember: 'yes please' },
          }),
          400,
        );
      });

      it(`429 + Retry-After after ${LOGIN_MAX_ATTEMPTS} failures, even for the right password`, async () => {
        const account = await registerAccount(base);
        const client = new Client(base, 'test', uniqueIp());
        for (let i = 0; i < LOGIN_MAX_ATTEMPTS; i++) {
          expectStatus(await client.post('/api/auth/login', { json: { email: account.email, password: 'wrong password' } }), 401);
        }
        const blocked = await client.post('/api/auth/login', { json: { email: account.email, password: PASSWORD } });
        expectClientError(blocked, 429);
        assert.ok(Number(blocked.headers.get('retry-after')) >= 1, `Retry-After: ${blocked.headers.get('retry-after')}`);
        assert.equal(blocked.setCookies.length, 0);
        // Per account, not per client: another address is refused too.
        const elsewhere = await new Client(base, 'test', uniqueIp()).post('/api/auth/login', {
          json: { email: account.email.toUpperCase(), password: PASSWORD },
        });
        expectStatus(elsewhere, 429);
      });

      it(`past MAX_SESSIONS_PER_USER (${MAX_SESSIONS_PER_USER}) the oldest session is signed out`, async () => {
        const account = await registerAccount(base);
        const devices: Client[] = [];
        for (let i = 1; i < MAX_SESSIONS_PER_USER; i++) devices.push(await signInAgain(base, account, `device-${i}`));
        expectStatus(await account.client.get('/api/auth/me'), 200);
        const newest = await signInAgain(base, account, 'one-too-many');
        expectStatus(await account.client.get('/api/auth/me'), 401);
        for (const device of [...devices, newest]) expectStatus(await device.get('/api/auth/me'), 200);
        const list = await newest.get('/api/auth/sessions');
        assert.equal(list.json.sessions.length, MAX_SESSIONS_PER_USER);
      });

      it('400 for malformed input, never a 5xx', async () => {
        for (const body of [{ raw: '{' }, { json: { email: 'a@b.co' } }, { json: { email: ['a@b.co'], password: 'x' } }, { json: null }]) {
          expectClientError(await new Client(base, 'test', uniqueIp()).post('/api/auth/login', body), 400);
        }
      });
    });

    describe('POST /api/auth/token', () => {
      it('201 {token, expiresAt}, no cookie; the token is a listable, revocable session', async () => {
        const account = await registerAccount(base);
        const cli = new Client(base, 'keycard-cli/1.0', uniqueIp());
        const reply = await cli.post('/api/auth/token', { json: { email: account.email, password: PASSWORD }, csrf: false });
        expectStatus(reply, 201);
        assert.deepEqual(Object.keys(reply.json).sort(), ['expiresAt', 'token']);
        assert.ok(Date.parse(reply.json.expiresAt) > Date.now());
        assert.equal(reply.setCookies.length, 0, 'no cookie');
        const token = reply.json.token as string;
        const me = await new Client(base).get('/api/auth/me', { bearer: token });
        expectStatus(me, 200);
        expectUser(me.json.user, { email: account.email });
        const listed = await account.client.get('/api/auth/sessions');
        const entry = listed.json.sessions.find((s: { userAgent: string }) => s.userAgent === 'keycard-cli/1.0');
        assert.ok(entry, 'the token session is listed');
        expectStatus(await account.client.delete(`/api/auth/sessions/${entry.id}`), 204);
        expectStatus(await new Client(base).get('/api/auth/me', { bearer: token }), 401);
      });

      it('401 for wrong credentials (same body as login), 400 for bad input', async () => {
        const account = await registerAccount(base);
        const client = new Client(base, 'test', uniqueIp());
        const wrong = await client.post('/api/auth/token', { json: { email: account.email, password: 'nope nope' }, csrf: false });
        const unknown = await client.post('/api/auth/token', { json: { email: uniqueEmail(), password: 'nope nope' }, csrf: false });
        expectClientError(wrong, 401);
        assert.equal(unknown.text, wrong.text);
        expectClientError(await client.post('/api/auth/token', { json: { email: account.email }, csrf: false }), 400);
      });

      it('429 once the account is throttled', async () => {
        const account = await registerAccount(base);
        const client = new Client(base, 'test', uniqueIp());
        for (let i = 0; i < LOGIN_MAX_ATTEMPTS; i++) {
          await client.post('/api/auth/token', { json: { email: account.email, password: 'wrong password' }, csrf: false });
        }
        const reply = await client.post('/api/auth/token', { json: { email: account.email, password: PASSWORD }, csrf: false });
        expectClientError(reply, 429);
        assert.ok(Number(reply.headers.get('retry-after')) >= 1);
      });
    });

    describe('POST /api/auth/logout', () => {
      it('204: the record is destroyed and the cookie cleared', async () => {
        const account = await registerAccount(base);
        const copy = account.client.clone();
        const reply = await account.client.post('/api/auth/logout');
        expectStatus(reply, 204);
        const cleared = cookieAttributes(reply, 'sid');
        assert.equal(cleared?.get('max-age'), '0');
        assert.equal(reply.headers.get('clear-site-data'), '"cookies"');
        assert.equal(sessionCookie(account.client), undefined);
        // The server-side record is gone: the old cookie value no longer works.
        expectStatus(await copy.get('/api/auth/me'), 401);
      });

      it('204 without a session too', async () => {
        expectStatus(await new Client(base).post('/api/auth/logout'), 204);
      });

      it('a bearer token can end its own session', async () => {
        const account = await registerAccount(base);
        const issued = await new Client(base).post('/api/auth/token', { json: { email: account.email, password: PASSWORD }, csrf: false });
        const token = issued.json.token as string;
        expectStatus(await new Client(base).post('/api/auth/logout', { bearer: token }), 204);
        expectStatus(await new Client(base).get('/api/auth/me', { bearer: token }), 401);
      });
    });

    describe('GET /api/auth/me', () => {
      it('401 without a session, with garbage, or with a forged signature', async () => {
        expectClientError(await new Client(base).get('/api/auth/me'), 401);
        const account = await registerAccount(base);
        const value = sessionCookie(account.client) ?? '';
        const forged = `${value.slice(0, value.indexOf('.'))}.${'A'.repeat(43)}`;
        const garbage = ['garbage', '%%%', 'a.b.c', '\u00e9t\u00e9', 'x'.repeat(4000), forged];
        for (const cookie of garbage) {
          const reply = await new Client(base).get('/api/auth/me', { headers: { cookie: `sid=${encodeURIComponent(cookie)}` } });
          expectClientError(reply, 401);
        }
        expectClientError(await new Client(base).get('/api/auth/me', { bearer: 'not-a-token' }), 401);
      });
    });

    describe('GET /api/auth/sessions', () => {
      it('200 with every device, the current one marked, ids that are not cookies', async () => {
        const account = await registerAccount(base);
        const second = await signInAgain(base, account, 'second-device');
        const reply = await account.client.get('/api/auth/sessions');
        expectStatus(reply, 200);
        const sessions = reply.json.sessions as Record<string, unknown>[];
        assert.equal(sessions.length, 2);
        for (const session of sessions) {
          assert.deepEqual(Object.keys(session).sort(), SESSION_KEYS);
          assert.ok(!Number.isNaN(Date.parse(String(session['createdAt']))));
          assert.ok(!Number.isNaN(Date.parse(String(session['lastSeenAt']))));
        }
        assert.deepEqual(sessions.map((s) => s['current']).sort(), [false, true]);
        assert.ok(sessions.some((s) => s['userAgent'] === 'second-device'));
        // A handle is not a cookie.
        for (const session of sessions) {
          const reply = await new Client(base).get('/api/auth/me', { headers: { cookie: `sid=${String(session['id'])}` } });
          expectStatus(reply, 401);
        }
        const fromSecond = await second.get('/api/auth/sessions');
        assert.equal(fromSecond.json.sessions.find((s: { current: boolean }) => s.current).userAgent, 'second-device');
      });

      it('401 signed out', async () => {
        expectClientError(await new Client(base).get('/api/auth/sessions'), 401);
      });
    });

    describe('DELETE /api/auth/sessions/:id', () => {
      it('204: that device is signed out', async () => {
        const account = await registerAccount(base);
        const second = await signInAgain(base, account);
        const list = await account.client.get('/api/auth/sessions');
        const other = list.json.sessions.find((s: { current: boolean }) => !s.current);
        expectStatus(await account.client.delete(`/api/auth/sessions/${other.id}`), 204);
        expectStatus(await second.get('/api/auth/me'), 401);
        expectStatus(await account.client.get('/api/auth/me'), 200);
      });

      it('404 for an unknown id or another user’s session', async () => {
        const alice = await registerAccount(base);
        const bob = await registerAccount(base);
        const bobs = await bob.client.get('/api/auth/sessions');
        const bobId = bobs.json.sessions[0].id as string;
        expectClientError(await alice.client.delete(`/api/auth/sessions/${bobId}`), 404);
        expectClientError(await alice.client.delete('/api/auth/sessions/no-such-session'), 404);
        expectStatus(await bob.client.get('/api/auth/me'), 200);
      });

      it('401 signed out', async () => {
        expectClientError(await new Client(base).delete('/api/auth/sessions/anything'), 401);
      });
    });

    describe('DELETE /api/auth/sessions', () => {
      it('204: every session but the current one is revoked', async () => {
        const account = await registerAccount(base);
        const second = await signInAgain(base, account, 'second');
        const third = await signInAgain(base, account, 'third');
        expectStatus(await account.client.delete('/api/auth/sessions'), 204);
        expectStatus(await second.get('/api/auth/me'), 401);
        expectStatus(await third.get('/api/auth/me'), 401);
        const list = await account.client.get('/api/auth/sessions');
        expectStatus(list, 200);
        assert.equal(list.json.sessions.length, 1);
        assert.equal(list.json.sessions[0].current, true);
      });

      it('401 signed out', async () => {
        expectClientError(await new Client(base).delete('/api/auth/sessions'), 401);
      });
    });

    describe('POST /api/auth/password', () => {
      it('204: other sessions revoked, the current one rotated, the new password works', async () => {
        const account = await registerAccount(base);
        const second = await signInAgain(base, account);
        const oldCookie = account.client.clone();
        const newPassword = 'a brand new passphrase';
        const reply = await account.client.post('/api/auth/password', { json: { currentPassword: PASSWORD, newPassword } });
        expectStatus(reply, 204);
        assert.ok(cookieAttributes(reply, 'sid'), 'the current session got a new id');
        expectStatus(await account.client.get('/api/auth/me'), 200);
        expectStatus(await oldCookie.get('/api/auth/me'), 401);
        expectStatus(await second.get('/api/auth/me'), 401);
        const fresh = new Client(base, 'test', uniqueIp());
        expectStatus(await fresh.post('/api/auth/login', { json: { email: account.email, password: PASSWORD } }), 401);
        expectStatus(await fresh.post('/api/auth/login', { json: { email: account.email, password: newPassword } }), 200);
      });

      for (const step of ['revokeAll', 'rotate'] as const) {
        it(`503 when the session store fails after the new hash commits (${step}): the old password is back`, async () => {
          const account = await registerAccount(base);
          const second = await signInAgain(base, account);
          const manager = app.app.get(SessionManager);
          // The store fails once, at that step (an outage between loading the session and it).
          const failOnce = async () => {
            throw new StoreUnavailableError('injected outage');
          };
          let restore: () => void;
          if (step === 'revokeAll') {
            manager.revokeAll = failOnce;
            restore = () => delete (manager as { revokeAll?: unknown }).revokeAll;
          } else {
            // The session's rotation reaches the store's rotate (under the deadline, through SessionRecords).
            const store = manager.store;
            store.rotate = failOnce;
            restore = () => delete (store as { rotate?: unknown }).rotate;
          }
          let reply: Reply;
          try {
            reply = await account.client.post('/api/auth/password', { json: { currentPassword: PASSWORD, newPassword: 'never committed' } });
          } finally {
            restore();
          }
          expectStatus(reply, 503);
          if (step === 'revokeAll') expectStatus(await second.get('/api/auth/me'), 200);
          const fresh = new Client(base, 'test', uniqueIp());
          expectStatus(await fresh.post('/api/auth/login', { json: { email: account.email, password: 'never committed' } }), 401);
          expectStatus(await fresh.post('/api/auth/login', { json: { email: account.email, password: PASSWORD } }), 200);
        });
      }

      it('403 for a wrong current password; nothing changes', async () => {
        const account = await registerAccount(base);
        const reply = await account.client.post('/api/auth/password', {
          json: { currentPassword: 'not my password', newPassword: 'another passphrase' },
        });
        expectClientError(reply, 403);
        expectStatus(await account.client.get('/api/auth/me'), 200);
        const fresh = new Client(base, 'test', uniqueIp());
        expectStatus(await fresh.post('/api/auth/login', { json: { email: account.email, password: PASSWORD } }), 200);
      });

      it('400 for invalid input', async () => {
        const account = await registerAccount(base);
        for (const json of [{}, { currentPassword: PASSWORD }, { currentPassword: PASSWORD, newPassword: 'short' }, { currentPassword: PASSWORD, newPassword: 'p'.repeat(129) }, { currentPassword: 1, newPassword: 2 }]) {
          expectClientError(await account.client.post('/api/auth/password', { json }), 400);
        }
      });

      it('401 signed out', async () => {
        expectClientError(
          await new Client(base).post('/api/auth/password', { json: { currentPassword: PASSWORD, newPassword: 'whatever else' } }),
          401,
        );
      });
    });

    describe('admin endpoints', () => {
      let admin: Account;
      before(async () => {
        admin = await adminAccount(base);
      });

      it('the ADMIN_EMAIL account is provisioned as admin; registering that e-mail, in any case, is a 409; users get only `user`', async () => {
        const me = await admin.client.get('/api/auth/me');
        expectUser(me.json.user, { roles: ['admin', 'user'] });
        for (const email of [ADMIN_EMAIL, ADMIN_EMAIL.toUpperCase()]) {
          const claim = await new Client(base, 'test', uniqueIp()).post('/api/auth/register', { json: { email, password: PASSWORD, name: 'Mallory' } });
          expectClientError(claim, 409);
          assert.equal(claim.setCookies.filter((line) => /^(sid|__Host-sid)=/.test(line)).length, 0);
        }
        const other = await registerAccount(base);
        const theirs = await other.client.get('/api/auth/me');
        expectUser(theirs.json.user, { roles: ['user'] });
      });

      it('GET /api/admin/users/:id/sessions: 200 for an admin, 401, 403, 404', async () => {
        const user = await registerAccount(base);
        await signInAgain(base, user);
        const reply = await admin.client.get(`/api/admin/users/${user.id}/sessions`);
        expectStatus(reply, 200);
        assert.equal(reply.json.sessions.length, 2);
        for (const session of reply.json.sessions) assert.deepEqual(Object.keys(session).sort(), SESSION_KEYS);
        expectClientError(await new Client(base).get(`/api/admin/users/${user.id}/sessions`), 401);
        expectClientError(await user.client.get(`/api/admin/users/${user.id}/sessions`), 403);
        expectClientError(await admin.client.get(`/api/admin/users/${MISSING_USER}/sessions`), 404);
        expectClientError(await admin.client.get('/api/admin/users/not-a-uuid/sessions'), 404);
      });

      it('DELETE /api/admin/users/:id/sessions: 204, that user is signed out everywhere; 401, 403, 404', async () => {
        const user = await registerAccount(base);
        const second = await signInAgain(base, user);
        expectClientError(await new Client(base).delete(`/api/admin/users/${user.id}/sessions`), 401);
        expectClientError(await user.client.delete(`/api/admin/users/${admin.id}/sessions`), 403);
        expectClientError(await admin.client.delete(`/api/admin/users/${MISSING_USER}/sessions`), 404);
        expectStatus(await admin.client.delete(`/api/admin/users/${user.id}/sessions`), 204);
        expectStatus(await user.client.get('/api/auth/me'), 401);
        expectStatus(await second.get('/api/auth/me'), 401);
        expectStatus(await admin.client.get('/api/auth/me'), 200);
      });

      it('PUT /api/admin/users/:id/roles: 200; live sessions see the new roles with a new id', async () => {
        const user = await registerAccount(base);
        const before = sessionCookie(user.client);
        const stale = user.client.clone();
        const reply = await admin.client.put(`/api/admin/users/${user.id}/roles`, { json: { roles: ['user', 'editor'] } });
        expectStatus(reply, 200);
        expectUser(reply.json.user, { roles: ['editor', 'user'] });
        const me = await user.client.get('/api/auth/me');
        expectStatus(me, 200);
        expectUser(me.json.user, { roles: ['editor', 'user'] });
        const after = sessionCookie(user.client);
        assert.ok(after && after !== before, 'the session moved to a new id');
        expectStatus(await stale.get('/api/auth/me'), 401);
        // Promoted to admin, the user can use admin endpoints on the next request.
        expectStatus(await admin.client.put(`/api/admin/users/${user.id}/roles`, { json: { roles: ['user', 'admin'] } }), 200);
        expectStatus(await user.client.get(`/api/admin/users/${admin.id}/sessions`), 200);
      });

      it('PUT /api/admin/users/:id/roles: 400, 401, 403, 404', async () => {
        const user = await registerAccount(base);
        for (const json of [{}, { roles: 'admin' }, { roles: [1] }, { roles: ['Not A Role!'] }]) {
          expectClientError(await admin.client.put(`/api/admin/users/${user.id}/roles`, { json }), 400);
        }
        expectClientError(await new Client(base).put(`/api/admin/users/${user.id}/roles`, { json: { roles: ['admin'] } }), 401);
        expectClientError(await user.client.put(`/api/admin/users/${user.id}/roles`, { json: { roles: ['admin'] } }), 403);
        expectClientError(await admin.client.put(`/api/admin/users/${MISSING_USER}/roles`, { json: { roles: ['user'] } }), 404);
        expectUser((await user.client.get('/api/auth/me')).json.user, { roles: ['user'] });
      });
    });

    describe('CSRF', () => {
      it('sign-in and registration need the pre-session token (login CSRF): 403 without it', async () => {
        const account = await registerAccount(base);
        const client = new Client(base, 'test', uniqueIp());
        expectClientError(await client.post('/api/auth/login', { json: { email: account.email, password: PASSWORD }, csrf: false }), 403);
        expectClientError(
          await client.post('/api/auth/register', { json: { email: uniqueEmail(), password: PASSWORD, name: 'X' }, csrf: false }),
          403,
        );
        // Another browser's token does not fit this browser's cookie.
        const other = new Client(base, 'test', uniqueIp());
        const foreign = (await other.get('/api/auth/csrf')).json.token as string;
        await client.get('/api/auth/csrf');
        const forged = await client.post('/api/auth/login', {
          json: { email: account.email, password: PASSWORD },
          headers: { 'x-csrf-token': foreign },
          csrf: false,
        });
        expectClientError(forged, 403);
        expectStatus(await client.post('/api/auth/login', { json: { email: account.email, password: PASSWORD } }), 200);
      });

      it('cookie-authenticated unsafe requests need the session token; bearer requests do not', async () => {
        const account = await registerAccount(base);
        const second = await signInAgain(base, account);
        expectClientError(await account.client.delete('/api/auth/sessions', { csrf: false }), 403);
        expectClientError(
          await account.client.post('/api/auth/password', { json: { currentPassword: PASSWORD, newPassword: 'new passphrase!' }, csrf: false }),
          403,
        );
        expectStatus(await second.get('/api/auth/me'), 200);
        const issued = await new Client(base).post('/api/auth/token', { json: { email: account.email, password: PASSWORD }, csrf: false });
        expectStatus(issued, 201);
        expectStatus(await new Client(base).delete('/api/auth/sessions', { bearer: issued.json.token, csrf: false }), 204);
        expectStatus(await second.get('/api/auth/me'), 401);
      });

      it('a cross-site Origin is refused even with a valid token; the same origin passes', async () => {
        const account = await registerAccount(base);
        const evil = await account.client.delete('/api/auth/sessions', { headers: { origin: 'https://evil.example' } });
        expectClientError(evil, 403);
        const crossSite = await account.client.delete('/api/auth/sessions', { headers: { 'sec-fetch-site': 'cross-site' } });
        expectClientError(crossSite, 403);
        expectStatus(await account.client.delete('/api/auth/sessions', { headers: { origin: base } }), 204);
      });

      it('a form may send the token as the _csrf field', async () => {
        const account = await registerAccount(base);
        const token = (await account.client.get('/api/auth/csrf')).json.token as string;
        const reply = await account.client.post('/api/auth/password', {
          form: { currentPassword: 'wrong password', newPassword: 'whatever passphrase', _csrf: token },
          csrf: false,
        });
        expectStatus(reply, 403);
        assert.equal(reply.json.message, 'the current password is wrong');
      });
    });

    describe('the session cookie', () => {
      it('is __Host-sid when the request came over HTTPS (trusted proxy), sid over plain HTTP', async () => {
        const client = new Client(base, 'test', uniqueIp());
        const reply = await client.post('/api/auth/register', {
          json: { email: uniqueEmail(), password: PASSWORD, name: 'Secure' },
          headers: { 'x-forwarded-proto': 'https' },
        });
        expectStatus(reply, 201);
        const cookie = cookieAttributes(reply, '__Host-sid');
        assert.ok(cookie, reply.setCookies.join(' | '));
        assert.ok(cookie.has('secure') && cookie.has('httponly'));
        assert.equal(cookie.get('path'), '/');
        assert.equal(cookie.has('domain'), false);
        expectStatus(await client.get('/api/auth/me', { headers: { 'x-forwarded-proto': 'https' } }), 200);
      });
    });

    describe('WebSocket /ws', () => {
      it('refuses a handshake without a valid session cookie with 401', async () => {
        assert.equal(await refusedStatus(new Client(base)), 401);
        const garbage = new Client(base);
        garbage.cookies.set('sid', 'not-a-session');
        assert.equal(await refusedStatus(garbage), 401);
        const anonymous = new Client(base);
        await anonymous.get('/api/auth/csrf');
        assert.equal(await refusedStatus(anonymous), 401);
      });

      it('refuses a foreign Origin (cross-site WebSocket hijacking)', async () => {
        const account = await registerAccount(base);
        assert.equal(await refusedStatus(account.client, { origin: 'https://evil.example' }), 403);
      });

      it('answers whoami with the signed-in user', async () => {
        const account = await registerAccount(base, { name: 'Socket' });
        const ws = await openSocket(account.client);
        ws.socket.send(JSON.stringify({ type: 'whoami' }));
        const reply = (await ws.next()) as { type: string; user: unknown };
        assert.equal(reply.type, 'whoami');
        expectUser(reply.user, { email: account.email, name: 'Socket', roles: ['user'] });
        ws.socket.close();
      });

      it('closes the socket within a second of sign-out', async () => {
        const account = await registerAccount(base);
        const ws = await openSocket(account.client);
        expectStatus(await account.client.post('/api/auth/logout'), 204);
        assert.equal(await ws.closed(1000), 4401);
      });

      it('closes the socket with 1009 on a message larger than 16 KiB', async () => {
        const account = await registerAccount(base);
        const ws = await openSocket(account.client);
        ws.socket.send(JSON.stringify({ type: 'whoami', pad: 'x'.repeat(16 * 1024) }));
        assert.equal(await ws.closed(2000), 1009);
      });

      it('closes the socket with 1008 on more than 20 messages in a second', async () => {
        const account = await registerAccount(base);
        const ws = await openSocket(account.client);
        for (let i = 0; i < 25; i++) ws.socket.send(JSON.stringify({ type: 'whoami' }));
        assert.equal(await ws.closed(2000), 1008);
      });

      it('closes the socket within a second when its session is revoked elsewhere', async () => {
        const account = await registerAccount(base);
        const second = await signInAgain(base, account);
        const ws = await openSocket(second);
        expectStatus(await account.client.delete('/api/auth/sessions'), 204);
        assert.equal(await ws.closed(1000), 4401);
      });
    });

    describe('bad input anywhere', () => {
      it('unknown routes: 404 JSON', async () => {
        for (const path of ['/api/nope', '/api/auth', '/definitely/not/here']) {
          expectClientError(await new Client(base).get(path), 404);
        }
        expectClientError(await new Client(base).post('/api/auth/me'), 404);
      });

      it('never a 5xx, whatever is sent where', async () => {
        const account = await registerAccount(base);
        const bodies = [{ raw: '' }, { raw: '{' }, { raw: 'null' }, { raw: '[]' }, { raw: '{"__proto__":{"admin":true}}' }, { raw: '\u0000' }, { json: { email: 'x'.repeat(10_000), password: 'y'.repeat(10_000) } }];
        const routes: [string, string][] = [
          ['POST', '/api/auth/register'],
          ['POST', '/api/auth/login'],
          ['POST', '/api/auth/token'],
          ['POST', '/api/auth/password'],
          ['PUT', `/api/admin/users/${account.id}/roles`],
        ];
        for (const [method, path] of routes) {
          for (const body of bodies) {
            for (const client of [account.client, new Client(base, 'test', uniqueIp())]) {
              const reply = await client.send(method, path, body);
              assert.ok(reply.status < 500, `${method} ${path} ${JSON.stringify(body).slice(0, 60)}: ${reply.status} ${reply.text}`);
            }
          }
        }
        expectStatus(await account.client.get('/api/auth/me'), 200);
      });

      it('browsers get pages for errors: an oversized form is a 413 page, an unknown path a 404 page', async () => {
        const browser = new Client(base, 'test', uniqueIp());
        const huge = await browser.post('/login', { form: { email: 'x@example.test', password: 'p'.repeat(20_000) }, headers: { accept: 'text/html' } });
        expectStatus(huge, 413);
        assert.match(huge.headers.get('content-type') ?? '', /text\/html/);
        const missing = await browser.get('/no/such/page', { headers: { accept: 'text/html' } });
        expectStatus(missing, 404);
        assert.match(missing.text, /Page not found/);
      });
    });

    /**
     * Findings of a security review: sign-ins racing a password or role
     * change, `?next=` paths that normalise to another host, control
     * characters in names, secrets in error logs, caching of personal JSON,
     * and parser messages that quote the body.
     */
    describe('security review fixes', () => {
      let hasher: PasswordHasher;
      let admin: Account;

      before(async () => {
        hasher = app.app.get(PasswordHasher);
        admin = await adminAccount(base);
      });

      /** The 401 a wrong password gets, to compare bodies with. */
      async function wrongPasswordReply(path: string, account: Account): Promise<Reply> {
        const reply = await new Client(base, 'test', uniqueIp()).post(path, {
          json: { email: account.email, password: 'not the password' },
          csrf: path !== '/api/auth/token',
        });
        expectStatus(reply, 401);
        return reply;
      }

      /** Runs `signIn` with its password check held, changes the password meanwhile, then lets it finish. */
      async function raceWithPasswordChange(account: Account, signIn: () => Promise<Reply>, gate = holdNextVerify(hasher)): Promise<Reply> {
        const pending = signIn();
        await gate.entered;
        expectStatus(await account.client.post('/api/auth/password', { json: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD } }), 204);
        gate.release();
        return pending;
      }

      async function sessionCount(account: Account): Promise<number> {
        const list = await account.client.get('/api/auth/sessions');
        expectStatus(list, 200);
        return list.json.sessions.length;
      }

      describe('a sign-in racing a credential change does not outlive it', () => {
        it('POST /api/auth/login: 401 (the wrong-password body), no session survives', async () => {
          const account = await registerAccount(base);
          const wrong = await wrongPasswordReply('/api/auth/login', account);
          const attacker = new Client(base, 'attacker', uniqueIp());
          const reply = await raceWithPasswordChange(account, () =>
            attacker.post('/api/auth/login', { json: { email: account.email, password: PASSWORD } }),
          );
          expectStatus(reply, 401);
          assert.equal(reply.text, wrong.text);
          expectStatus(await attacker.get('/api/auth/me'), 401);
          assert.equal(await sessionCount(account), 1, 'only the session that changed the password');
          expectStatus(await new Client(base, 'test', uniqueIp()).post('/api/auth/login', { json: { email: account.email, password: NEW_PASSWORD } }), 200);
        });

        it('POST /api/auth/token: 401 (the wrong-password body), no token survives', async () => {
          const account = await registerAccount(base);
          const wrong = await wrongPasswordReply('/api/auth/token', account);
          const cli = new Client(base, 'attacker-cli', uniqueIp());
          const reply = await raceWithPasswordChange(account, () =>
            cli.post('/api/auth/token', { json: { email: account.email, password: PASSWORD }, csrf: false }),
          );
          expectStatus(reply, 401);
          assert.equal(reply.text, wrong.text);
          assert.equal(await sessionCount(account), 1, 'no token session left');
        });

        it('the sign-in form: 401 page, not signed in', async () => {
          const account = await registerAccount(base);
          const browser = new Client(base, 'attacker-browser', uniqueIp());
          const reply = await raceWithPasswordChange(account, () =>
            browser.post('/login', { form: { email: account.email, password: PASSWORD }, headers: { accept: 'text/html' } }),
          );
          expectStatus(reply, 401);
          assert.match(reply.text, /Email or password is incorrect/);
          expectStatus(await browser.get('/api/auth/me'), 401);
          assert.equal(await sessionCount(account), 1);
        });

        it('a rehash on sign-in never writes the old password back over a new one', async () => {
          const account = await registerAccount(base);
          const attacker = new Client(base, 'attacker', uniqueIp());
          const reply = await raceWithPasswordChange(
            account,
            () => attacker.post('/api/auth/login', { json: { email: account.email, password: PASSWORD } }),
            holdNextVerify(hasher, { rehash: true }),
          );
          expectStatus(reply, 401);
          const fresh = new Client(base, 'test', uniqueIp());
          expectStatus(await fresh.post('/api/auth/login', { json: { email: account.email, password: PASSWORD } }), 401);
          expectStatus(await fresh.post('/api/auth/login', { json: { email: account.email, password: NEW_PASSWORD } }), 200);
        });

        it('a password change racing another one from a session it revokes does not win', async () => {
          const account = await registerAccount(base);
          const other = await signInAgain(base, account, 'other-device');
          const gate = holdNextVerify(hasher);
          const pending = other.post('/api/auth/password', { json: { currentPassword: PASSWORD, newPassword: 'the other passphrase' } });
          await gate.entered;
          expectStatus(await account.client.post('/api/auth/password', { json: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD } }), 204);
          gate.release();
          expectStatus(await pending, 403);
          expectStatus(await other.get('/api/auth/me'), 401);
          expectStatus(await account.client.get('/api/auth/me'), 200);
          expectStatus(await new Client(base, 'test', uniqueIp()).post('/api/auth/login', { json: { email: account.email, password: NEW_PASSWORD } }), 200);
        });

        it('a sign-in racing a demotion is signed in with the new roles', async () => {
          const account = await registerAccount(base);
          expectStatus(await admin.client.put(`/api/admin/users/${account.id}/roles`, { json: { roles: ['user', 'admin'] } }), 200);
          const gate = holdNextVerify(hasher);
          const device = new Client(base, 'racing-device', uniqueIp());
          const pending = device.post('/api/auth/login', { json: { email: account.email, password: PASSWORD } });
          await gate.entered;
          expectStatus(await admin.client.put(`/api/admin/users/${account.id}/roles`, { json: { roles: ['user'] } }), 200);
          gate.release();
          const reply = await pending;
          expectStatus(reply, 200);
          assert.deepEqual(reply.json.user.roles, ['user']);
          const me = await device.get('/api/auth/me');
          expectStatus(me, 200);
          assert.deepEqual(me.json.user.roles, ['user']);
          expectStatus(await device.get(`/api/admin/users/${admin.id}/sessions`), 403);
        });
      });

      describe('?next= never leaves the site', () => {
        const OFF_SITE = ['/.//evil.example', '/..//evil.example/x', '/%2e//evil.example', '/a/..//evil.example'];

        it('GET /login?next= (signed in) and the sign-in form redirect to / instead', async () => {
          const account = await registerAccount(base);
          for (const next of OFF_SITE) {
            const reply = await account.client.get(`/login?next=${encodeURIComponent(next)}`, { headers: { accept: 'text/html' } });
            expectStatus(reply, 303);
            assert.equal(reply.headers.get('location'), '/', next);
          }
          for (const next of OFF_SITE) {
            const browser = new Client(base, 'test', uniqueIp());
            const reply = await browser.post('/login', { form: { email: account.email, password: PASSWORD, next }, headers: { accept: 'text/html' } });
            expectStatus(reply, 303);
            assert.equal(reply.headers.get('location'), '/', next);
          }
        });
      });

      describe('control characters in a name', () => {
        it('400 with a clear message (JSON and form), never a 5xx', async () => {
          // (A lone surrogate cannot be sent in a form: URL encoding turns it into U+FFFD first.)
          for (const name of ['a\u0000b', 'tab\there', 'bell\u0007x', 'c1\u0085x', 'half \ud800 pair']) {
            const json = await new Client(base, 'test', uniqueIp()).post('/api/auth/register', {
              json: { email: uniqueEmail(), password: PASSWORD, name },
            });
            expectStatus(json, 400);
            assert.match(json.json.message, /^name must (not contain control characters|be valid Unicode text)$/, JSON.stringify(name));
            if (name.includes('\ud800')) continue;
            const form = await new Client(base, 'test', uniqueIp()).post('/register', {
              form: { email: uniqueEmail(), password: PASSWORD, name },
              headers: { accept: 'text/html' },
            });
            expectStatus(form, 400);
          }
          const control = await new Client(base, 'test', uniqueIp()).post('/api/auth/register', {
            json: { email: uniqueEmail(), password: PASSWORD, name: 'a\u0000b' },
          });
          assert.equal(control.json.message, 'name must not contain control characters');
        });

        it('a database error is logged without its parameters (no email, no password hash)', async () => {
          // The schema now stops a NUL before the database; force one through to see what the log says.
          const users = app.app.get(UsersRepository);
          users.create = async (user: NewUser) => {
            delete (users as { create?: unknown }).create;
            return UsersRepository.prototype.create.call(users, { ...user, name: 'a\u0000b' });
          };
          const email = uniqueEmail('logged');
          const logged: string[] = [];
          const write = process.stderr.write;
          process.stderr.write = ((chunk: string | Uint8Array) => {
            logged.push(String(chunk));
            return true;
          }) as typeof process.stderr.write;
          let reply: Reply;
          try {
            reply = await new Client(base, 'test', uniqueIp()).post('/api/auth/register', { json: { email, password: PASSWORD, name: 'Log' } });
          } finally {
            process.stderr.write = write;
          }
          expectStatus(reply, 500);
          assert.equal(reply.json.message, 'something went wrong on our side');
          const log = logged.join('');
          assert.match(log, /database error \(SQLSTATE \w{5}\)/, log);
          assert.match(log, /insert into "users"/, log);
          assert.ok(!log.includes(email), `the email is not logged: ${log}`);
          assert.ok(!/\$argon2|params/i.test(log), `no hash, no parameters: ${log}`);
        });
      });

      describe('Cache-Control', () => {
        it('personal JSON is no-store; the stylesheet keeps its own caching', async () => {
          const account = await registerAccount(base);
          await account.client.get('/api/auth/csrf');
          const user = await registerAccount(base);
          for (const path of ['/api/auth/csrf', '/api/auth/me', '/api/auth/sessions']) {
            const reply = await account.client.get(path);
            expectStatus(reply, 200);
            assert.equal(reply.headers.get('cache-control'), 'no-store', path);
          }
          const adminReply = await admin.client.get(`/api/admin/users/${user.id}/sessions`);
          expectStatus(adminReply, 200);
          assert.equal(adminReply.headers.get('cache-control'), 'no-store');
          const roles = await admin.client.put(`/api/admin/users/${user.id}/roles`, { json: { roles: ['user'] } });
          expectStatus(roles, 200);
          assert.equal(roles.headers.get('cache-control'), 'no-store');
          assert.equal((await new Client(base).get('/assets/app.css')).headers.get('cache-control'), 'public, max-age=3600');
        });
      });

      describe('malformed JSON', () => {
        it('400 with a fixed message that does not quote the body', async () => {
          const cases: [string, string][] = [
            ['{"email":', 'the request body is not valid JSON'],
            ['{"email": nonsense}', 'the request body is not valid JSON'],
            ['null', 'the request body must be a JSON object'],
            ['"secret-looking"', 'the request body must be a JSON object'],
            ['12345', 'the request body must be a JSON object'],
          ];
          for (const [raw, message] of cases) {
            const reply = await new Client(base, 'test', uniqueIp()).post('/api/auth/login', { raw });
            expectStatus(reply, 400);
            assert.equal(reply.json.message, message, raw);
            assert.equal(reply.json.statusCode, 400);
          }
        });
      });
    });
  });
}
