import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  Body,
  Controller,
  Get,
  Injectable,
  Module,
  Param,
  Post,
  Request,
  UnauthorizedException,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { AuthGuard, PassportModule, PassportSerializer, PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-local';
import { SessionManager, TokenSigner, sessionIdOf } from '../src/index.js';
import { SessionModule, SessionService, csrfTokenFor, sessionOf, type RequestLike } from '../src/nest/index.js';
import { PassportCompatModule, type ExpressSessionView } from '../src/passport/index.js';
import { Gates } from './support/gate.js';
import { expectCookie, expectKeycardError, expectStatus, startApp, type Client, type HttpResult, type RunningApp } from './support/http.js';
import { SECRET } from './support/session-app.js';
import { CountingStore, DownStore } from './support/stores.js';

// ——— the NestJS tutorial's code, as written there (users, strategy, serializer, guards, controller) ———

interface User {
  userId: number;
  username: string;
  password: string;
}

@Injectable()
class UsersService {
  private readonly users: User[] = [
    { userId: 1, username: 'john', password: 'changeme' },
    { userId: 2, username: 'maria', password: 'guess' },
  ];

  async findOne(username: string): Promise<User | undefined> {
    return this.users.find((user) => user.username === username);
  }

  async findById(userId: number): Promise<User | undefined> {
    return this.users.find((user) => user.userId === userId);
  }
}

@Injectable()
class AuthService {
  constructor(private readonly usersService: UsersService) {}

  async validateUser(username: string, pass: string): Promise<Omit<User, 'password'> | null> {
    const user = await this.usersService.findOne(username);
    if (user && user.password === pass) {
      const { password: _password, ...result } = user;
      return result;
    }
    return null;
  }
}

@Injectable()
class LocalStrategy extends PassportStrategy(Strategy) {
  constructor(private readonly authService: AuthService) {
    super();
  }

  async validate(username: string, password: string): Promise<Omit<User, 'password'>> {
    const user = await this.authService.validateUser(username, password);
    if (!user) {
      throw new UnauthorizedException();
    }
    return user;
  }
}

@Injectable()
class SessionSerializer extends PassportSerializer {
  constructor(private readonly usersService: UsersService) {
    super();
  }

  serializeUser(user: Omit<User, 'password'>, done: (err: Error | null, id?: number) => void): void {
    done(null, user.userId);
  }

  deserializeUser(userId: number, done: (err: Error | null, user?: Omit<User, 'password'> | null) => void): void {
    this.usersService.findById(userId).then((user) => {
      if (!user) return done(null, null);
      const { password: _password, ...result } = user;
      done(null, result);
    }, done);
  }
}

@Injectable()
class LocalAuthGuard extends AuthGuard('local') {
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const result = (await super.canActivate(context)) as boolean;
    const request = context.switchToHttp().getRequest();
    await super.logIn(request);
    return result;
  }
}

@Injectable()
class AuthenticatedGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest();
    return request.isAuthenticated();
  }
}

/** What the tutorial's handlers see on `req` (Express request with passport's and express-session's additions). */
interface TutorialRequest {
  user?: Omit<User, 'password'>;
  session: ExpressSessionView;
  sessionID: string;
  isAuthenticated(): boolean;
  logout(done: (err?: unknown) => void): void;
}

@Controller()
class AppController {
  constructor(private readonly gates: Gates) {}

  @UseGuards(LocalAuthGuard)
  @Post('auth/login')
  login(@Request() req: TutorialRequest) {
    return req.user;
  }

  @Get('health')
  health() {
    return { ok: true };
  }

  @UseGuards(AuthenticatedGuard)
  @Get('profile')
  getProfile(@Request() req: TutorialRequest) {
    return req.user;
  }

  @Post('auth/logout')
  logout(@Request() req: TutorialRequest) {
    return new Promise((resolve, reject) => {
      req.logout((err) => (err ? reject(err) : resolve({ msg: 'The user session has ended' })));
    });
  }

  /** The other tutorial logout: `req.session.destroy()` without waiting for it. */
  @Post('auth/destroy')
  destroy(@Request() req: TutorialRequest) {
    req.session.destroy();
    return { msg: 'The user session has ended' };
  }

  // ——— plain express-session usage ———

  @Post('visits')
  visit(@Request() req: TutorialRequest) {
    req.session['visits'] = (typeof req.session['visits'] === 'number' ? req.session['visits'] : 0) + 1;
    return { visits: req.session['visits'], id: req.session.id, sessionID: req.sessionID };
  }

  @Get('data')
  data(@Request() req: TutorialRequest) {
    return { data: { ...req.session }, keys: Object.keys(req.session), hasVisits: 'visits' in req.session };
  }

  @Post('set/:key')
  async set(@Request() req: TutorialRequest, @Param('key') key: string, @Body() body: { value: string; gate?: string }) {
    req.session[key] = body.value;
    if (body.gate) await this.gates.get(body.gate).pass();
    return { ok: true };
  }

  @Post('prefs/theme')
  theme(@Request() req: TutorialRequest, @Body() body: { theme: string }) {
    // In-place mutation of an object read from the session, as express-session code does.
    if (typeof req.session['prefs'] !== 'object' || req.session['prefs'] === null) req.session['prefs'] = {};
    (req.session['prefs'] as Record<string, string>)['theme'] = body.theme;
    return { ok: true };
  }

  @Post('regenerate')
  regenerate(@Request() req: TutorialRequest) {
    return new Promise((resolve, reject) => {
      req.session.regenerate((err) => {
        if (err) return reject(err);
        req.session['fresh'] = true;
        resolve({ ok: true });
      });
    });
  }

  @Post('reload')
  reload(@Request() req: TutorialRequest) {
    req.session['unsaved'] = 'dropped';
    return new Promise((resolve) => {
      req.session.reload((err) => resolve({ error: err instanceof Error ? err.message : null, unsaved: req.session['unsaved'] ?? null }));
    });
  }

  @Post('save')
  save(@Request() req: TutorialRequest) {
    req.session['saved'] = 'yes';
    return new Promise((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve({ ok: true }))));
  }

  @Get('cookie')
  cookie(@Request() req: TutorialRequest) {
    return { cookie: req.session.cookie, chain: req.session.touch().resetMaxAge() === req.session };
  }

  /** keycard's own view of the same request: passport's sign-in reaches keycard's principal. */
  @Get('keycard')
  keycard(@Request() req: TutorialRequest) {
    const session = sessionOf(req as never);
    return { principal: session.principal, handle: session.handle };
  }
}

@Module({
  imports: [UsersModuleLike()],
  providers: [AuthService, LocalStrategy, SessionSerializer],
})
class AuthModule {}

/** The tutorial's UsersModule, folded into a function so that the test stays one file. */
function UsersModuleLike() {
  @Module({ providers: [UsersService], exports: [UsersService] })
  class UsersModule {}
  return UsersModule;
}

@Controller()
class CsrfTokenController {
  @Get('csrf')
  token(@Request() req: RequestLike) {
    return { token: csrfTokenFor(req) };
  }
}

function tutorialApp(store: CountingStore | DownStore, gates: Gates, options: { readonly csrf?: boolean } = {}) {
  return {
    imports: [
      // keycard replaces `app.use(session(...))`, `passport.initialize()` and `passport.session()`.
      // guard: 'none' because the tutorial protects routes with its own guards.
      SessionModule.forRoot({ secrets: SECRET, store, guard: 'none', csrf: options.csrf ? {} : false }),
      PassportCompatModule.forRoot(),
      PassportModule.register({ session: true }),
      AuthModule,
    ],
    controllers: options.csrf ? [AppController, CsrfTokenController] : [AppController],
    providers: [{ provide: Gates, useValue: gates }],
  };
}

/** The store id behind a signed cookie value. */
function storeIdOf(signed: string): string {
  return sessionIdOf(signed.slice(0, signed.indexOf('.')));
}

async function logIn(client: Client, username = 'john', password = 'changeme'): Promise<HttpResult> {
  return client.post('/auth/login', { username, password });
}

describe('passport compatibility on express', () => {
  let running: RunningApp;
  let store: CountingStore;
  let gates: Gates;
  before(async () => {
    store = new CountingStore();
    gates = new Gates();
    running = await startApp('express', tutorialApp(store, gates));
  });
  after(async () => {
    gates.openAll();
    await running.close();
  });

  describe('when signing in through AuthGuard("local")', () => {
    it('answers the user and sets the session cookie', async () => {
      const client = running.client();
      const result = await logIn(client);
      expectStatus(result, 201);
      assert.deepEqual(result.body, { userId: 1, username: 'john' });
      expectCookie(result, 'sid', { httpOnly: true, sameSite: 'Lax' });
      const record = await store.peek(storeIdOf(client.cookie('sid') as string));
      assert.deepEqual(record?.data, { passport: { user: 1 } });
    });

    it('refuses wrong credentials with 401 and no cookie', async () => {
      const result = await logIn(running.client(), 'john', 'wrong');
      expectStatus(result, 401);
      assert.deepEqual(result.setCookies, []);
    });

    it('lets the protected route through with req.user from deserializeUser, and refuses others with 403', async () => {
      const client = running.client();
      await logIn(client, 'maria', 'guess');
      const profile = await client.get('/profile');
      expectStatus(profile, 200);
      assert.deepEqual(profile.body, { userId: 2, username: 'maria' });
      expectStatus(await running.client().get('/profile'), 403);
    });

    it("makes the passport user keycard's principal, so keycard's guards and device lists see it", async () => {
      const client = running.client();
      await logIn(client);
      const seen = await client.get('/keycard');
      assert.deepEqual((seen.body as { principal: unknown }).principal, { id: '1', roles: [], authVersion: 0 });
      const listed = await running.app.get(SessionService).listSessions('1');
      assert.ok(listed.some((info) => info.handle === (seen.body as { handle: string }).handle));
    });

    it('regenerates on login (fixation): the pre-login cookie is dead and a new id is issued', async () => {
      const client = running.client();
      expectStatus(await client.post('/visits'), 201);
      const before = client.cookie('sid') as string;
      assert.ok(await store.peek(storeIdOf(before)), 'the anonymous session is stored');
      const attacker = client.fork();

      const login = await logIn(client);
      expectStatus(login, 201);
      const after = client.cookie('sid') as string;
      assert.notEqual(after, before);
      assert.equal(await store.peek(storeIdOf(before)), null, 'the pre-login id is destroyed');
      // Whoever holds the pre-login cookie (planted or stolen) is not signed in, and its data is gone.
      expectStatus(await attacker.get('/profile'), 403);
      assert.deepEqual((await attacker.get('/data')).body, { data: {}, keys: [], hasVisits: false });
      expectStatus(await client.get('/profile'), 200);
    });

    it('signs out of another account when a second user logs in on the same browser', async () => {
      const client = running.client();
      await logIn(client);
      const first = client.cookie('sid') as string;
      await logIn(client, 'maria', 'guess');
      assert.equal(await store.peek(storeIdOf(first)), null);
      assert.deepEqual((await client.get('/profile')).body, { userId: 2, username: 'maria' });
      assert.equal(((await client.get('/keycard')).body as { principal: { id: string } }).principal.id, '2');
    });
  });

  describe('when signing out', () => {
    it('req.logout() ends the session: the old cookie gets 403 from the tutorial guard', async () => {
      const client = running.client();
      await logIn(client);
      const stolen = client.fork();
      const before = client.cookie('sid') as string;
      const result = await client.post('/auth/logout');
      expectStatus(result, 201);
      expectCookie(result, 'sid', { cleared: true });
      assert.equal(await store.peek(storeIdOf(before)), null);
      expectStatus(await stolen.get('/profile'), 403);
      expectStatus(await client.get('/profile'), 403);
    });

    it('req.session.destroy() without a callback is finished before the response (cookie cleared, record gone)', async () => {
      const client = running.client();
      await logIn(client);
      const stolen = client.fork();
      const before = client.cookie('sid') as string;
      const result = await client.post('/auth/destroy');
      expectStatus(result, 201);
      expectCookie(result, 'sid', { cleared: true });
      assert.equal(await store.peek(storeIdOf(before)), null);
      expectStatus(await stolen.get('/profile'), 403);
    });
  });

  describe('when code uses req.session like express-session', () => {
    it('persists data set as properties, and lists it like an object', async () => {
      const client = running.client();
      const first = await client.post('/visits');
      expectStatus(first, 201);
      const body = first.body as { visits: number; id: string; sessionID: string };
      assert.equal(body.visits, 1);
      assert.match(body.id, /^[A-Za-z0-9_-]{22}$/);
      assert.equal(body.sessionID, body.id);
      assert.equal(((await client.post('/visits')).body as { visits: number }).visits, 2);
      assert.deepEqual((await client.get('/data')).body, { data: { visits: 2 }, keys: ['visits'], hasVisits: true });
    });

    it('persists in-place changes to objects read from it', async () => {
      const client = running.client();
      expectStatus(await client.post('/prefs/theme', { theme: 'dark' }), 201);
      expectStatus(await client.post('/prefs/theme', { theme: 'light' }), 201);
      assert.deepEqual(((await client.get('/data')).body as { data: unknown }).data, { prefs: { theme: 'light' } });
    });

    it('keeps both writes of two concurrent requests that set different keys', async () => {
      const client = running.client();
      expectStatus(await client.post('/set/start', { value: '0' }), 201);
      const first = client.post('/set/a', { value: '1', gate: 'concurrent-a' });
      const second = client.post('/set/b', { value: '2', gate: 'concurrent-b' });
      await Promise.all([gates.get('concurrent-a').reached, gates.get('concurrent-b').reached]);
      gates.get('concurrent-b').open();
      expectStatus(await second, 201);
      gates.get('concurrent-a').open();
      expectStatus(await first, 201);
      assert.deepEqual(((await client.get('/data')).body as { data: unknown }).data, { start: '0', a: '1', b: '2' });
    });

    it('regenerate(cb) gives a new id at once, without the old data', async () => {
      const client = running.client();
      await client.post('/visits');
      const before = client.cookie('sid') as string;
      const result = await client.post('/regenerate');
      expectStatus(result, 201);
      assert.notEqual(client.cookie('sid'), before);
      assert.equal(await store.peek(storeIdOf(before)), null);
      assert.deepEqual(((await client.get('/data')).body as { data: unknown }).data, { fresh: true });
    });

    it('save(cb) stores at once; reload(cb) drops unsaved writes, and fails for a session that is gone', async () => {
      const client = running.client();
      expectStatus(await client.post('/save'), 201);
      assert.deepEqual((await store.peek(storeIdOf(client.cookie('sid') as string)))?.data, { saved: 'yes' });
      assert.deepEqual((await client.post('/reload')).body, { error: null, unsaved: null });
      assert.deepEqual(((await client.get('/data')).body as { data: unknown }).data, { saved: 'yes' });
      assert.deepEqual((await running.client().post('/reload')).body, { error: 'failed to load session', unsaved: null });
    });

    it('describes the cookie like express-session does', async () => {
      const client = running.client();
      await client.post('/visits');
      const result = await client.get('/cookie');
      assert.deepEqual(result.body, {
        cookie: { path: '/', secure: false, httpOnly: true, sameSite: 'lax', maxAge: null, originalMaxAge: null, expires: null },
        chain: true,
      });
    });
  });

  it('a session revoked through keycard is signed out of passport too', async () => {
    const client = running.client();
    await logIn(client, 'maria', 'guess');
    await running.app.get(SessionManager).revokeAll('2');
    expectStatus(await client.get('/profile'), 403);
  });
});

describe('passport compatibility with CsrfModule on express', () => {
  let running: RunningApp;
  before(async () => {
    running = await startApp('express', tutorialApp(new CountingStore(), new Gates(), { csrf: true }));
  });
  after(() => running.close());

  async function tokenOf(client: Client): Promise<string> {
    return ((await client.get('/csrf')).body as { token: string }).token;
  }

  it('refuses a forged sign-in before the strategy runs, and accepts one with the pre-session token', async () => {
    const client = running.client();
    const token = await tokenOf(client);
    expectStatus(await logIn(client), 403);
    expectStatus(await client.post('/auth/login', { username: 'john', password: 'changeme' }, { 'x-csrf-token': token }), 201);
    expectStatus(await client.get('/profile'), 200);
  });

  it('binds the token to the session passport signed in, so sign-out needs the new one', async () => {
    const client = running.client();
    const preLogin = await tokenOf(client);
    await client.post('/auth/login', { username: 'john', password: 'changeme' }, { 'x-csrf-token': preLogin });
    expectStatus(await client.post('/auth/logout', {}, { 'x-csrf-token': preLogin }), 403);
    expectStatus(await client.post('/auth/logout', {}, { 'x-csrf-token': await tokenOf(client) }), 201);
    expectStatus(await client.get('/profile'), 403);
  });
});

describe('passport compatibility on express when the session store is down', () => {
  it('answers 503 where the tutorial asks whether the user is signed in, and serves routes that do not', async () => {
    const running = await startApp('express', tutorialApp(new DownStore('reject'), new Gates()));
    try {
      const cookie = `sid=${new TokenSigner([SECRET]).sign('A'.repeat(43))}`;
      const client = running.client();
      expectKeycardError(await client.fetch('/profile', { headers: { cookie }, cookies: false }), 503, 'KEYCARD_STORE_UNAVAILABLE');
      expectKeycardError(await client.fetch('/visits', { method: 'POST', headers: { cookie }, cookies: false }), 503, 'KEYCARD_STORE_UNAVAILABLE');
      expectStatus(await client.fetch('/health', { headers: { cookie }, cookies: false }), 200);
    } finally {
      await running.close();
    }
  });
});

describe('passport compatibility on fastify', () => {
  it('refuses to start, saying what to use instead', async () => {
    await assert.rejects(startApp('fastify', tutorialApp(new CountingStore(), new Gates())), {
      code: 'KEYCARD_INVALID_OPTIONS',
      message:
        'keycard: PassportCompatModule needs @nestjs/platform-express, not "fastify"; on Fastify, sign users in with SessionService.signIn() and read them with @CurrentUser()',
    });
  });
});
