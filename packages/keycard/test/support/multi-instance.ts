import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { spawnAppProcess, type AppProcess, type StoreSpec } from './app-process.js';
import { Browser } from './browser.js';
import { expectCookie, expectKeycardError, expectStatus, request, type HttpResult, type Platform } from './http.js';

interface UserBody {
  readonly user: { readonly id: string; readonly roles: readonly string[] };
}

function userOf(result: HttpResult): UserBody['user'] {
  return (result.body as UserBody).user;
}

/** The cookie header `browser` holds now; it must hold one. */
function cookieOf(browser: Browser): string {
  const header = browser.cookieHeader();
  assert.ok(header, 'the browser holds a session cookie');
  return header;
}

/** GET /me with exactly this cookie (a second tab, a copy kept from before a sign-out). */
function meWith(instance: AppProcess, cookie: string): Promise<HttpResult> {
  return request(`${instance.url}/me`, { headers: { cookie } });
}

let users = 0;
/** A user id no other test (or earlier run on the same store) uses. */
function newUser(name: string): string {
  users++;
  return `${name}-${process.pid}-${users}`;
}

/**
 * Three application processes behind an imaginary load balancer, sharing one
 * store, on the given platforms (mixed: the Express and Fastify bindings must
 * agree on cookies and records). Every scenario sends one browser's requests
 * to different processes and checks that nothing is cached per process:
 * a sign-in, a write, a sign-out or a revocation on one instance is what the
 * very next request on any other instance sees.
 */
export function describeMultiInstance(
  name: string,
  options: { readonly skip: string | false; readonly platforms: readonly [Platform, Platform, Platform]; readonly store: () => StoreSpec },
): void {
  describe(name, { skip: options.skip }, () => {
    let instances: AppProcess[] = [];
    const at = (index: number): AppProcess => instances[index] as AppProcess;
    const label = (index: number): string => `#${index + 1} (${options.platforms[index]})`;

    before(async () => {
      const store = options.store();
      const started = performance.now();
      instances = await Promise.all(options.platforms.map((platform) => spawnAppProcess({ platform, store })));
      console.log(`${name}: 3 processes (${options.platforms.join(', ')}) listening after ${(performance.now() - started).toFixed(0)} ms`);
      assert.equal(new Set(instances.map((instance) => instance.pid)).size, 3, 'three distinct processes');
    });

    after(async () => {
      await Promise.all(instances.map((instance) => instance.stop()));
    });

    for (const [a, b, c] of [
      [0, 1, 2],
      [1, 2, 0],
      [2, 0, 1],
    ] as const) {
      it(`sign-out — signed in on ${label(a)}, used on ${label(b)}, signed out on ${label(c)}: the cookie fails on ${label(a)} and ${label(b)} at the very next request`, async () => {
        const browser = new Browser();
        const id = newUser('alice');
        const login = await browser.post(at(a).url, '/login', { id });
        expectStatus(login, 201);
        expectCookie(login, 'sid', { httpOnly: true });
        const cookie = cookieOf(browser);

        const onB = await browser.get(at(b).url, '/me');
        expectStatus(onB, 200);
        assert.equal(userOf(onB).id, id, `${label(b)} sees the user signed in on ${label(a)}`);
        expectStatus(await browser.get(at(a).url, '/me'), 200);

        const logout = await browser.post(at(c).url, '/logout');
        expectStatus(logout, 204);
        expectCookie(logout, 'sid', { cleared: true });
        // No waiting: the next request with the old cookie, on each other instance, is refused.
        expectKeycardError(await meWith(at(a), cookie), 401, 'KEYCARD_UNAUTHENTICATED');
        expectKeycardError(await meWith(at(b), cookie), 401, 'KEYCARD_UNAUTHENTICATED');
        expectKeycardError(await meWith(at(c), cookie), 401, 'KEYCARD_UNAUTHENTICATED');
      });
    }

    it('data — a key written on one instance is read on the others, and the last write wins everywhere', async () => {
      const browser = new Browser();
      const id = newUser('dana');
      expectStatus(await browser.post(at(0).url, '/login', { id }), 201);
      expectStatus(await browser.post(at(1).url, '/note', { note: 'written on #2' }), 201);
      for (const index of [0, 1, 2]) {
        const data = await browser.get(at(index).url, '/data');
        expectStatus(data, 200);
        assert.equal((data.body as { note?: unknown }).note, 'written on #2', `${label(index)} reads the note`);
      }
      expectStatus(await browser.post(at(2).url, '/note', { note: 'written on #3' }), 201);
      const data = await browser.get(at(0).url, '/data');
      assert.equal((data.body as { note?: unknown }).note, 'written on #3');
      // A data write does not change the session id: the cookie is the one the sign-in set.
      expectStatus(await browser.get(at(1).url, '/me'), 200);
    });

    it('revokeAll — "sign out everywhere" on one instance ends the sessions in use on every instance', async () => {
      const id = newUser('erin');
      const devices = [new Browser(), new Browser(), new Browser()];
      for (const [index, device] of devices.entries()) {
        expectStatus(await device.post(at(index).url, '/login', { id }), 201);
        expectStatus(await device.get(at(index).url, '/me'), 200);
      }
      // The per-user index is shared: any instance lists the sessions made on all of them.
      const listing = await (devices[0] as Browser).get(at(1).url, '/sessions');
      expectStatus(listing, 200);
      assert.equal((listing.body as { sessions: unknown[] }).sessions.length, 3);

      const admin = new Browser();
      expectStatus(await admin.post(at(1).url, '/login', { id }), 201);
      expectStatus(await admin.post(at(1).url, '/revoke-all'), 204);
      for (const [index, device] of devices.entries()) {
        expectKeycardError(await device.get(at(index).url, '/me'), 401, 'KEYCARD_UNAUTHENTICATED');
      }
      expectKeycardError(await admin.get(at(2).url, '/me'), 401, 'KEYCARD_UNAUTHENTICATED');
    });

    it('revokeAll — "sign out everywhere else" on one instance keeps the caller on every instance and ends the others', async () => {
      const id = newUser('frank');
      const phone = new Browser();
      const laptop = new Browser();
      expectStatus(await phone.post(at(0).url, '/login', { id }), 201);
      expectStatus(await laptop.post(at(2).url, '/login', { id }), 201);
      expectStatus(await phone.get(at(1).url, '/me'), 200);

      expectStatus(await laptop.post(at(1).url, '/revoke-others'), 204);
      for (const index of [0, 1, 2]) {
        expectKeycardError(await phone.get(at(index).url, '/me'), 401, 'KEYCARD_UNAUTHENTICATED');
        expectStatus(await laptop.get(at(index).url, '/me'), 200);
      }
    });

    it('refreshPrincipal — a role change on one instance reaches a session used on another, with a new id', async () => {
      const id = newUser('grace');
      const browser = new Browser();
      expectStatus(await browser.post(at(0).url, '/login', { id, roles: ['user'] }), 201);
      const before = cookieOf(browser);
      expectKeycardError(await browser.get(at(1).url, '/admin'), 403, 'KEYCARD_FORBIDDEN_ROLE');

      const refreshed = await new Browser().post(at(2).url, '/refresh-principal', { id, roles: ['admin'] });
      expectStatus(refreshed, 201);
      assert.deepEqual(refreshed.body, { changed: 1 });

      const admin = await browser.get(at(0).url, '/admin');
      expectStatus(admin, 200);
      expectCookie(admin, 'sid');
      const after = cookieOf(browser);
      assert.notEqual(after, before, 'the session got a new id');
      assert.deepEqual(userOf(await browser.get(at(1).url, '/me')).roles, ['admin']);
      expectKeycardError(await meWith(at(2), before), 401, 'KEYCARD_UNAUTHENTICATED');
    });

    it('instances — every process is still up after the scenarios (nothing crashed)', () => {
      for (const [index, instance] of instances.entries()) assert.equal(instance.alive, true, `${label(index)} is alive`);
    });
  });
}
