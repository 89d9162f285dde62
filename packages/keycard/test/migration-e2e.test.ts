import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { Controller, Get } from '@nestjs/common';
import { RedisStore } from 'connect-redis';
import session from 'express-session';
import pg from 'pg';
import { createClient } from 'redis';
import type { ConnectStore, JsonValue, Principal, Session as KeycardSession } from '../src/index.js';
import { CurrentUser, Public, Session, SessionModule } from '../src/nest/index.js';
import { manualClock } from './support/clock.js';
import { PLATFORMS, Client, expectCookie, expectStatus, startApp, type RunningApp } from './support/http.js';
import { startLegacyApp, type LegacyApp } from './support/legacy-app.js';
import { SECRET } from './support/session-app.js';
import { DATABASE_URL, REDIS_URL, postgresSkip, redisSkip } from './support/services.js';

const OLD_SECRET = 'keyboard cat (the tutorial secret)';
const ROTATED_SECRET = 'the express-session secret after rotation';

@Controller()
class KeycardController {
  @Get('me')
  me(@CurrentUser() user: Principal): { user: string } {
    return { user: user.id };
  }

  @Public()
  @Get('state')
  state(@Session() session: KeycardSession): { user: string | null; cart: JsonValue | null } {
    return { user: session.principal?.id ?? null, cart: session.get('cart') ?? null };
  }
}

interface Backend {
  readonly name: string;
  readonly skip: string | false;
  /** A store as the old app configured it. */
  store(): session.Store & ConnectStore;
  /** Whether the old store still has session `sid`. */
  has(sid: string): Promise<boolean>;
  close(): Promise<void>;
}

async function redisBackend(): Promise<Backend> {
  const skip = await redisSkip();
  const prefix = `kc-migration-test:${randomBytes(6).toString('hex')}:`;
  const client = createClient({ url: REDIS_URL });
  client.on('error', () => undefined);
  if (!skip) await client.connect();
  return {
    name: 'connect-redis',
    skip,
    store: () => new RedisStore({ client, prefix }) as unknown as session.Store & ConnectStore,
    has: async (sid) => (await client.exists(prefix + sid)) === 1,
    close: async () => {
      if (skip) return;
      const keys: string[] = [];
      for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 200 })) keys.push(...batch);
      if (keys.length > 0) await client.del(keys);
      await client.close();
    },
  };
}

async function pgBackend(): Promise<Backend> {
  const skip = await postgresSkip();
  const schema = 'kc_migration_pg_simple';
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  const connectPgSimple = createRequire(import.meta.url)('connect-pg-simple') as (
    expressSession: typeof session,
  ) => new (options: Record<string, unknown>) => session.Store & ConnectStore & { close(): Promise<void> };
  const stores: { close(): Promise<void> }[] = [];
  if (!skip) {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.query(`CREATE SCHEMA ${schema}`);
  }
  return {
    name: 'connect-pg-simple',
    skip,
    store: () => {
      const PGStore = connectPgSimple(session);
      const store = new PGStore({ pool, schemaName: schema, tableName: 'session', createTableIfMissing: true, pruneSessionInterval: false });
      stores.push(store);
      return store;
    },
    has: async (sid) => (await pool.query(`SELECT 1 FROM ${schema}.session WHERE sid = $1`, [sid])).rowCount === 1,
    close: async () => {
      for (const store of stores) await store.close();
      if (!skip) await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
    },
  };
}

const backends = [await redisBackend(), await pgBackend()];
after(async () => {
  for (const backend of backends) await backend.close();
});

/** The sid inside an express-session cookie value. */
function sidOf(cookie: string): string {
  const value = decodeURIComponent(cookie).slice(2);
  return value.slice(0, value.lastIndexOf('.'));
}

for (const backend of backends) {
  for (const platform of PLATFORMS) {
    describe(`moving from express-session + ${backend.name} to keycard on ${platform}`, { skip: backend.skip }, () => {
      let legacy: LegacyApp;
      let rotatedLegacy: LegacyApp;
      let keycard: RunningApp;
      const refused = new Set<string>();
      const clock = manualClock();
      before(async () => {
        legacy = await startLegacyApp(backend.store(), OLD_SECRET);
        rotatedLegacy = await startLegacyApp(backend.store(), [ROTATED_SECRET, OLD_SECRET]);
        keycard = await startApp(platform, {
          imports: [
            SessionModule.forRoot({
              secrets: SECRET,
              csrf: false,
              clock,
              migrateFromExpressSession: {
                store: backend.store(),
                secrets: [ROTATED_SECRET, OLD_SECRET],
                principalFor: (user) => (refused.has(String(user)) ? null : { id: `user:${String(user)}`, roles: ['user'], authVersion: 1 }),
                keepData: (old): Record<string, JsonValue> => (Array.isArray(old['cart']) ? { cart: old['cart'] as JsonValue } : {}),
              },
            }),
          ],
          controllers: [KeycardController],
        });
      });
      after(async () => {
        await keycard?.close();
        await legacy?.close();
        await rotatedLegacy?.close();
      });

      /** A browser signed in to the old app; returns it pointed at the keycard app. */
      async function signedInBefore(user: string, app = legacy): Promise<Client> {
        const browser = new Client(app.url);
        expectStatus(await browser.post('/login', { username: user, password: `pw-${user}` }), 200);
        expectStatus(await browser.post('/cart', { item: 'book' }), 200);
        assert.deepEqual((await browser.get('/me')).body, { user });
        return browser.at(keycard.url);
      }

      it('a user signed in with express-session stays signed in after the switch, once; the old cookie then stops working', async () => {
        const browser = await signedInBefore('ann');
        const oldCookie = browser.cookie('connect.sid') as string;
        assert.ok(await backend.has(sidOf(oldCookie)));
        const first = await browser.get('/me');
        expectStatus(first, 200);
        assert.deepEqual(first.body, { user: 'user:ann' });
        expectCookie(first, 'sid', { httpOnly: true });
        expectCookie(first, 'connect.sid', { cleared: true });
        assert.equal(await backend.has(sidOf(oldCookie)), false, 'the old session is destroyed');
        assert.equal(browser.cookie('connect.sid'), undefined);
        assert.deepEqual((await browser.get('/state')).body, { user: 'user:ann', cart: ['book'] }, 'the keycard session alone, with the carried cart');

        const replay = new Client(keycard.url);
        replay.setCookie('connect.sid', oldCookie);
        expectStatus(await replay.get('/me'), 401);
        const old = new Client(legacy.url);
        old.setCookie('connect.sid', oldCookie);
        expectStatus(await old.get('/me'), 401);
      });

      it('review #8: a cross-site request (Sec-Fetch-Site: cross-site) migrates nothing, on any method; a same-site visit then does', async () => {
        const browser = await signedInBefore('vic');
        const oldCookie = browser.cookie('connect.sid') as string;
        for (const method of ['GET', 'POST'] as const) {
          const crossSite = await browser.fetch('/me', { method, headers: { 'sec-fetch-site': 'cross-site' } });
          if (method === 'GET') assert.equal(crossSite.status, 401);
          assert.equal(crossSite.setCookies.filter((cookie) => cookie.name === 'sid').length, 0, 'no keycard session adopted');
          assert.ok(await backend.has(sidOf(oldCookie)), 'the old session is untouched');
        }
        const sameSite = await browser.fetch('/me', { method: 'GET', headers: { 'sec-fetch-site': 'same-origin' } });
        assert.deepEqual(sameSite.body, { user: 'user:vic' });
        assert.equal(await backend.has(sidOf(oldCookie)), false);
      });

      it('an old cookie signed with an older express-session secret still migrates', async () => {
        const browser = await signedInBefore('bob', legacy);
        const viaRotated = await signedInBefore('cid', rotatedLegacy);
        assert.deepEqual((await browser.get('/me')).body, { user: 'user:bob' });
        assert.deepEqual((await viaRotated.get('/me')).body, { user: 'user:cid' });
      });

      it('a forged or unknown old cookie signs nobody in and is cleared', async () => {
        const browser = await signedInBefore('dan');
        const genuine = browser.cookie('connect.sid') as string;
        const forged = new Client(keycard.url);
        forged.setCookie('connect.sid', genuine.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')));
        const refusedForged = await forged.get('/me');
        expectStatus(refusedForged, 401);
        expectCookie(refusedForged, 'connect.sid', { cleared: true });
        assert.ok(await backend.has(sidOf(genuine)), 'a forged cookie destroys nothing');
        const unknown = new Client(keycard.url);
        unknown.setCookie('connect.sid', 's%3Anot-a-session.signature');
        expectCookie(await unknown.get('/me'), 'connect.sid', { cleared: true });
      });

      it('an old session past its cookie expiry is not migrated', async () => {
        const browser = await signedInBefore('eve');
        clock.set(Date.now() + 60 * 60 * 1000 + 1000);
        try {
          const result = await browser.get('/me');
          expectStatus(result, 401);
          expectCookie(result, 'connect.sid', { cleared: true });
        } finally {
          clock.set(Date.now());
        }
      });

      it('a user principalFor refuses is signed out: old session destroyed, cookie cleared', async () => {
        refused.add('fay');
        const browser = await signedInBefore('fay');
        const oldCookie = browser.cookie('connect.sid') as string;
        const result = await browser.get('/me');
        expectStatus(result, 401);
        expectCookie(result, 'connect.sid', { cleared: true });
        assert.equal(await backend.has(sidOf(oldCookie)), false);
      });

      it('an anonymous old session carries its data over without signing anyone in', async () => {
        const browser = new Client(legacy.url);
        expectStatus(await browser.post('/cart', { item: 'pen' }), 200);
        const moved = browser.at(keycard.url);
        const result = await moved.get('/state');
        assert.deepEqual(result.body, { user: null, cart: ['pen'] });
        expectCookie(result, 'connect.sid', { cleared: true });
        assert.deepEqual((await moved.get('/state')).body, { user: null, cart: ['pen'] });
      });

      it('with a keycard sign-in already, the old session is destroyed and its cookie cleared', async () => {
        const browser = await signedInBefore('gus');
        const oldCookie = browser.cookie('connect.sid') as string;
        expectStatus(await browser.get('/me'), 200);
        browser.setCookie('connect.sid', oldCookie);
        const again = await browser.get('/me');
        assert.deepEqual(again.body, { user: 'user:gus' });
        expectCookie(again, 'connect.sid', { cleared: true });
      });
    });
  }
}
