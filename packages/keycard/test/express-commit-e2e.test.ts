import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import {
  BadRequestException,
  Catch,
  Controller,
  Get,
  HttpException,
  Post,
  Redirect,
  Render,
  Res,
  Sse,
  StreamableFile,
  type ArgumentsHost,
  type ExceptionFilter,
  type INestApplication,
} from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Redis } from 'ioredis';
import { of, type Observable } from 'rxjs';
import { KeycardError, MemoryStore, type Session as KeycardSession, type SessionPatch, type SessionRecord, type SessionStore } from '../src/index.js';
import { Public, Session, SessionModule, SessionService, toHttpException } from '../src/nest/index.js';
import { RedisStore } from '../src/redis/index.js';
import { Gate, Gates } from './support/gate.js';
import { expectCookie, expectKeycardError, expectStatus, startApp, type Client, type HttpResult, type RunningApp } from './support/http.js';
import { watchProcessFailures } from './support/poll.js';
import { RedisServer, redisServerSkip } from './support/redis-server.js';
import { REDIS_URL, redisSkip } from './support/services.js';
import { SECRET, SessionTestController } from './support/session-app.js';

// keycard on Express commits without a Nest interceptor: hooks on Nest's replies, on its
// exception layer and on the response's first byte. Every way a Nest handler answers, on real
// HTTP, with the MemoryStore and a RedisStore; writes made to fail through the real outage path
// (the store's promise rejects, the manager turns it into a 503), and a write parked until the
// test lets it finish, to show that no byte of the response leaves before the store has it.

/** Express's `res`, the members used here. */
interface ExpressResponse {
  status(code: number): ExpressResponse;
  setHeader(name: string, value: string): unknown;
  json(body: unknown): unknown;
  send(body: string): unknown;
  write(chunk: string): boolean;
  end(chunk?: string): unknown;
  header(name: string, value: string): unknown;
}

/** An application's catch-all filter: it records what it answers, as an error tracker would. */
@Catch()
class RecordingFilter implements ExceptionFilter {
  readonly seen: unknown[] = [];
  catch(error: unknown, host: ArgumentsHost): void {
    this.seen.push(error);
    const response = host.switchToHttp().getResponse<ExpressResponse>();
    if (error instanceof KeycardError) {
      const exception = toHttpException(error);
      for (const [name, value] of Object.entries(exception.headers)) response.setHeader(name, value);
      response.status(exception.getStatus()).json(exception.getResponse());
      return;
    }
    const status = error instanceof HttpException ? error.getStatus() : 500;
    response.status(status).json(error instanceof HttpException ? error.getResponse() : { statusCode: 500 });
  }
}

/** One route per way a Nest handler on Express answers; each writes the session first. */
@Controller('paths')
class PathsController {
  constructor(private readonly sessions: SessionService) {}

  private async signIn(session: KeycardSession): Promise<void> {
    await this.sessions.signIn(session, { id: 'alice', roles: ['user'], authVersion: 1 });
  }

  @Public()
  @Post('returned')
  async returned(@Session() session: KeycardSession): Promise<{ ok: true }> {
    await this.signIn(session);
    return { ok: true };
  }

  @Public()
  @Post('redirect')
  @Redirect('/paths/landing', 303)
  async redirect(@Session() session: KeycardSession): Promise<void> {
    await this.signIn(session);
  }

  @Public()
  @Get('render')
  @Render('page')
  async render(@Session() session: KeycardSession): Promise<{ name: string }> {
    await this.signIn(session);
    return { name: 'alice' };
  }

  @Public()
  @Get('file')
  async file(@Session() session: KeycardSession): Promise<StreamableFile> {
    await this.signIn(session);
    return new StreamableFile(Buffer.from('file body'), { type: 'text/plain' });
  }

  @Public()
  @Post('passthrough')
  async passthrough(@Session() session: KeycardSession, @Res({ passthrough: true }) response: ExpressResponse): Promise<{ ok: true }> {
    response.header('X-Handler', 'passthrough');
    await this.signIn(session);
    return { ok: true };
  }

  /** Sends the response itself without `sessionService.commit`: the send waits for the commit. */
  @Public()
  @Post('manual')
  async manual(@Session() session: KeycardSession, @Res() response: ExpressResponse): Promise<void> {
    await this.signIn(session);
    response.status(200).send('sent by the handler');
  }

  /** Streams with `res.write`: the first byte waits for the commit. */
  @Public()
  @Post('stream')
  async stream(@Session() session: KeycardSession, @Res() response: ExpressResponse): Promise<void> {
    await this.signIn(session);
    response.setHeader('Content-Type', 'text/plain');
    response.write('one,');
    response.write('two,');
    response.end('three');
  }

  @Public()
  @Sse('events')
  async events(@Session() session: KeycardSession): Promise<Observable<{ data: string }>> {
    await this.signIn(session);
    return of({ data: 'hello' });
  }

  @Public()
  @Post('throws-after-sign-in')
  async throwsAfterSignIn(@Session() session: KeycardSession): Promise<never> {
    await this.signIn(session);
    throw new BadRequestException('signed in, then failed');
  }
}

/** A write the test parks: the store starts it, and finishes it once the test releases it. */
class ParkedWrites {
  gate: Gate | null = null;
  /** Writes the store has finished. */
  finished = 0;

  /** Delays `store`'s create and update behind `gate` while one is set (the real write follows). */
  install(store: SessionStore): void {
    const create = store.create.bind(store);
    const update = store.update.bind(store);
    const park = async <T>(write: () => Promise<T>): Promise<T> => {
      const gate = this.gate;
      if (gate !== null) await gate.pass();
      const result = await write();
      this.finished++;
      return result;
    };
    store.create = (record: SessionRecord) => park(() => create(record));
    store.update = (id: string, patch: SessionPatch) => park(() => update(id, patch));
  }
}

/** The real MemoryStore whose writes can be made to fail as a lost connection does. */
class FailingMemoryStore extends MemoryStore {
  failWrites = false;
  constructor() {
    super({ sweepInterval: 0 });
  }
  override create(record: SessionRecord): Promise<void> {
    return this.failWrites ? Promise.reject(new Error('connection lost')) : super.create(record);
  }
  override update(id: string, patch: SessionPatch): Promise<boolean> {
    return this.failWrites ? Promise.reject(new Error('connection lost')) : super.update(id, patch);
  }
}

const views = mkdtempSync(join(tmpdir(), 'keycard-views-'));
writeFileSync(join(views, 'page.txt'), 'hello, {{name}}');
after(() => rmSync(views, { recursive: true, force: true }));

/** Express's own view machinery with a one-line engine (no template package is installed). */
function useViews(app: INestApplication): void {
  const express = app as NestExpressApplication;
  express.engine('txt', (path: string, options: object, done: (error: unknown, html?: string) => void) => {
    import('node:fs/promises')
      .then(async (fs) => (await fs.readFile(path, 'utf8')).replace('{{name}}', String((options as { name?: unknown }).name)))
      .then((html) => done(null, html), done);
  });
  express.setBaseViewsDir(views);
  express.setViewEngine('txt');
}

async function startPaths(store: SessionStore, filter: RecordingFilter): Promise<RunningApp> {
  return startApp(
    'express',
    {
      imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false, store })],
      controllers: [PathsController, SessionTestController],
      providers: [{ provide: Gates, useValue: new Gates() }],
    },
    {
      configure: (app) => {
        app.useGlobalFilters(filter);
        useViews(app);
      },
    },
  );
}

function expectSignedIn(result: HttpResult): void {
  expectCookie(result, 'sid', { cleared: false });
}

/** The table: how each path answers when the store works. */
const PATHS: ReadonlyArray<{ name: string; send: (client: Client) => Promise<HttpResult>; check: (result: HttpResult) => void }> = [
  { name: 'a returned value', send: (c) => c.post('/paths/returned'), check: (r) => (expectStatus(r, 201), assert.deepEqual(r.body, { ok: true })) },
  {
    name: '@Redirect()',
    send: (c) => c.fetch('/paths/redirect', { method: 'POST' }),
    check: (r) => (expectStatus(r, 303), assert.equal(r.headers.get('location'), '/paths/landing')),
  },
  { name: '@Render()', send: (c) => c.get('/paths/render'), check: (r) => (expectStatus(r, 200), assert.equal(r.text, 'hello, alice')) },
  { name: 'a StreamableFile', send: (c) => c.get('/paths/file'), check: (r) => (expectStatus(r, 200), assert.equal(r.text, 'file body')) },
  {
    name: '@Res({ passthrough: true })',
    send: (c) => c.post('/paths/passthrough'),
    check: (r) => (expectStatus(r, 201), assert.equal(r.headers.get('x-handler'), 'passthrough')),
  },
  { name: '@Res() without passthrough', send: (c) => c.post('/paths/manual'), check: (r) => (expectStatus(r, 200), assert.equal(r.text, 'sent by the handler')) },
  { name: 'res.write streaming', send: (c) => c.post('/paths/stream'), check: (r) => (expectStatus(r, 201), assert.equal(r.text, 'one,two,three')) },
  {
    name: 'server-sent events',
    send: (c) => c.get('/paths/events'),
    check: (r) => (expectStatus(r, 200), assert.match(r.headers.get('content-type') ?? '', /text\/event-stream/), assert.match(r.text, /data: hello/)),
  },
];

const redisSkipReason = await redisSkip();

for (const backend of ['memory', 'redis'] as const) {
  describe(`Express commit hooks, ${backend} store: every way a handler answers carries its session`, { skip: backend === 'redis' && redisSkipReason }, () => {
    let app: RunningApp;
    let redis: Redis | undefined;
    const filter = new RecordingFilter();

    before(async () => {
      let store: SessionStore = new MemoryStore({ sweepInterval: 0 });
      if (backend === 'redis') {
        redis = new Redis(REDIS_URL);
        store = new RedisStore(redis, { prefix: `express-commit:${Date.now()}:` });
      }
      app = await startPaths(store, filter);
    });
    after(async () => {
      await app.close();
      redis?.disconnect();
    });

    for (const path of PATHS) {
      it(`${path.name}: the answer sets the new session's cookie, and the store has the session`, async () => {
        const client = app.client();
        const result = await path.send(client);
        path.check(result);
        expectSignedIn(result);
        const me = await client.get('/me');
        expectStatus(me, 200);
        assert.equal((me.body as { user: { id: string } }).user.id, 'alice');
      });
    }

    it('a handler that signs out and then throws: the filter answers its exception, and the cookie is cleared', async () => {
      const client = app.client();
      expectStatus(await client.post('/login', { id: 'bob' }), 201);
      const cookie = client.cookieHeader() as string;
      filter.seen.length = 0;
      const result = await client.post('/logout-then-fail');
      expectStatus(result, 400);
      expectCookie(result, 'sid', { cleared: true });
      assert.ok(filter.seen[0] instanceof BadRequestException, 'the application filter saw the handler exception');
      const replay = await app.client().get('/me', { cookie });
      expectStatus(replay, 401);
    });

    it('a handler that signs in and then throws: the new session still reaches the client with the error', async () => {
      const client = app.client();
      const result = await client.post('/paths/throws-after-sign-in');
      expectStatus(result, 400);
      expectSignedIn(result);
      expectStatus(await client.get('/me'), 200);
    });
  });
}

describe('Express commit hooks: a failed commit never answers success', () => {
  let app: RunningApp;
  let store: FailingMemoryStore;
  let filter: RecordingFilter;
  let failures: ReturnType<typeof watchProcessFailures>;

  beforeEach(async () => {
    failures = watchProcessFailures();
    store = new FailingMemoryStore();
    filter = new RecordingFilter();
    app = await startPaths(store, filter);
  });
  afterEach(async () => {
    await app.close();
    assert.deepEqual(await failures.stop(), [], 'no unhandled rejection or uncaught exception');
  });

  // Nest awaits these answers: the commit's KeycardError goes to the application's filter.
  for (const path of PATHS.slice(0, 5)) {
    it(`${path.name}: 503 from the application's exception filter, which saw the KeycardError; no cookie, no Location`, async () => {
      store.failWrites = true;
      const result = await path.send(app.client());
      expectKeycardError(result, 503, 'KEYCARD_STORE_UNAVAILABLE');
      assert.deepEqual(result.setCookies, [], 'no cookie for a session the store does not have');
      assert.equal(result.headers.get('location'), null);
      assert.equal(filter.seen.length, 1);
      assert.ok(filter.seen[0] instanceof KeycardError, `the filter saw ${String(filter.seen[0])}`);
    });
  }

  // Nobody awaits these: keycard answers 503 itself, before any byte of the handler's answer.
  for (const path of PATHS.slice(5)) {
    it(`${path.name}: 503 from keycard (the handler's answer is held back and dropped); no cookie`, async () => {
      store.failWrites = true;
      const result = await path.send(app.client());
      expectKeycardError(result, 503, 'KEYCARD_STORE_UNAVAILABLE');
      assert.deepEqual(result.setCookies, []);
      assert.doesNotMatch(result.text, /sent by the handler|one,|hello/);
    });
  }

  it('a handler that signs in and then throws: the filter gets the commit failure in place of its exception', async () => {
    store.failWrites = true;
    const result = await app.client().post('/paths/throws-after-sign-in');
    expectKeycardError(result, 503, 'KEYCARD_STORE_UNAVAILABLE');
    assert.deepEqual(result.setCookies, []);
    assert.ok(filter.seen[0] instanceof KeycardError);
  });
});

const redisServerSkipReason = redisServerSkip();

describe('Express commit hooks: a Redis that dies between the read and the write', { skip: redisServerSkipReason }, () => {
  let server: RedisServer;
  let redis: Redis;
  let app: RunningApp;
  const gates = new Gates();
  const filter = new RecordingFilter();

  before(async () => {
    server = await RedisServer.start();
    redis = new Redis({ host: server.host, port: server.port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 500 });
    redis.on('error', () => undefined);
    await redis.connect();
      const store = new RedisStore(redis, { prefix: 'express-commit-outage:' });
    app = await startApp(
      'express',
      {
        imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false, store, cache: false })],
        controllers: [SessionTestController],
        providers: [{ provide: Gates, useValue: gates }],
      },
      { configure: (nest) => void nest.useGlobalFilters(filter) },
    );
  });
  after(async () => {
    gates.openAll();
    await app.close();
    redis.disconnect();
    await server.stop();
  });

  it("the handler's write fails: 503 through the application's filter, with the KeycardError", { timeout: 30_000 }, async () => {
    const client = app.client();
    expectStatus(await client.post('/login', { id: 'carol' }), 201);
    const pending = client.post('/gated/outage', { key: 'note', value: 'x' });
    await gates.get('outage').reached;
    await server.kill();
    gates.get('outage').open();
    const result = await pending;
    expectKeycardError(result, 503, 'KEYCARD_STORE_UNAVAILABLE');
    assert.ok(filter.seen.some((error) => error instanceof KeycardError));
  });
});

describe('Express commit hooks: no byte of the response before the store has the write', () => {
  let app: RunningApp;
  const parked = new ParkedWrites();

  before(async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    parked.install(store);
    app = await startPaths(store, new RecordingFilter());
  });
  after(async () => {
    parked.gate?.open();
    await app.close();
  });

  /** Sends a request on its own connection; `responded` turns true when the status line arrives. */
  function rawRequest(method: string, path: string): { responded: () => boolean; response: Promise<{ message: IncomingMessage; body: string; finishedAtFirstByte: number }> } {
    let responded = false;
    const response = new Promise<{ message: IncomingMessage; body: string; finishedAtFirstByte: number }>((resolve, reject) => {
      const request = httpRequest(`${app.url}${path}`, { method, agent: false }, (message) => {
        responded = true;
        const finishedAtFirstByte = parked.finished;
        let body = '';
        message.setEncoding('utf8');
        message.on('data', (chunk: string) => (body += chunk));
        message.on('end', () => resolve({ message, body, finishedAtFirstByte }));
      });
      request.on('error', reject);
      request.end();
    });
    return { responded: () => responded, response };
  }

  for (const [method, path] of [
    ['POST', '/paths/returned'],
    ['POST', '/paths/redirect'],
    ['GET', '/paths/render'],
    ['GET', '/paths/file'],
    ['POST', '/paths/manual'],
    ['POST', '/paths/stream'],
    ['GET', '/paths/events'],
  ] as const) {
    it(`${method} ${path}: the response waits for the parked store write`, { timeout: 30_000 }, async () => {
      const gate = new Gate();
      parked.gate = gate;
      const before = parked.finished;
      const sent = rawRequest(method, path);
      await gate.reached;
      // The handler is done and the write is parked. Another request's whole round trip on the
      // same server gives a response that was not held back the time to arrive first.
      expectStatus(await app.client().get('/public/ping'), 200);
      parked.gate = null;
      const early = sent.responded();
      gate.open();
      assert.equal(early, false, 'no response before the store write finished');
      const { message, finishedAtFirstByte } = await sent.response;
      assert.ok(finishedAtFirstByte > before, 'the store write had finished when the first byte arrived');
      assert.ok((message.statusCode ?? 0) < 400, `status ${message.statusCode}`);
      assert.ok(String(message.headers['set-cookie'] ?? '').startsWith('sid='), 'the session cookie');
    });
  }
});
