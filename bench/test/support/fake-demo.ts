/**
 * A few-line stand-in for the reference app's session API, in memory, with
 * one switchable bug: it lets the workload's model be checked both ways — no
 * wrong answers against a correct server, wrong answers against a broken one.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeBug =
  | 'none'
  | 'sign-out-keeps-session'
  | 'revoke-keeps-session'
  | 'password-keeps-others'
  | 'rotation-keeps-old-id'
  /** Refuses every third password-hashing request with the SPEC's 503 KEYCARD_OVERLOADED + Retry-After, changing nothing: not a bug. */
  | 'overloaded'
  /** The same refusals, but the change is made anyway: a lie the model must notice. */
  | 'overloaded-but-changed';

interface FakeSession {
  readonly handle: string;
  readonly email: string;
}

export class FakeDemo {
  private readonly server: Server;
  private readonly users = new Map<string, string>();
  private readonly sessions = new Map<string, FakeSession>();
  private hashing = 0;

  constructor(private readonly bug: FakeBug) {
    this.server = createServer((request, response) => {
      void this.handle(request, response);
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let text = '';
    for await (const chunk of request) text += String(chunk);
    const body = (text === '' ? {} : JSON.parse(text)) as Record<string, string>;
    const token = /(?:^|; )sid=([^;]+)/.exec(request.headers.cookie ?? '')?.[1];
    const current = token === undefined ? undefined : this.sessions.get(token);
    const reply = (status: number, json?: unknown, cookie?: string) => {
      const headers: Record<string, string> = json === undefined ? {} : { 'content-type': 'application/json' };
      if (cookie !== undefined) headers['set-cookie'] = cookie;
      response.writeHead(status, headers).end(json === undefined ? undefined : JSON.stringify(json));
    };
    const startSession = (email: string, status: number) => {
      const value = randomUUID();
      this.sessions.set(value, { handle: randomUUID(), email });
      reply(status, { user: { email } }, `sid=${value}; Path=/; HttpOnly`);
    };
    const overloaded = (): void => {
      response.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end(JSON.stringify({ code: 'KEYCARD_OVERLOADED', message: 'busy' }));
    };
    // Whether this hashing request is refused as overloaded, and whether the fake then still makes the change.
    const refuse = (): { refused: boolean; changes: boolean } => {
      const refused = (this.bug === 'overloaded' || this.bug === 'overloaded-but-changed') && ++this.hashing % 3 === 0;
      return { refused, changes: !refused || this.bug === 'overloaded-but-changed' };
    };
    const path = request.url ?? '/';
    const route = `${request.method} ${path.startsWith('/api/auth/sessions/') ? '/api/auth/sessions/:id' : path}`;
    switch (route) {
      case 'GET /api/auth/csrf':
        return reply(200, { token: 'fake' });
      case 'POST /api/auth/register': {
        if (this.users.has(body.email as string)) return reply(409, { message: 'taken' });
        const { refused, changes } = refuse();
        if (changes) this.users.set(body.email as string, body.password as string);
        return refused ? overloaded() : startSession(body.email as string, 201);
      }
      case 'POST /api/auth/login': {
        const { refused, changes } = refuse();
        if (refused && !changes) return overloaded();
        if (this.users.get(body.email as string) !== body.password) return refused ? overloaded() : reply(401, { message: 'no' });
        if (refused) {
          this.sessions.set(randomUUID(), { handle: randomUUID(), email: body.email as string }); // a session nobody got
          return overloaded();
        }
        return startSession(body.email as string, 200);
      }
    }
    if (current === undefined || token === undefined) return reply(route === 'POST /api/auth/logout' ? 204 : 401);
    const mine = [...this.sessions].filter(([, session]) => session.email === current.email);
    switch (route) {
      case 'GET /api/auth/me':
        return reply(200, { user: { email: current.email } });
      case 'GET /api/auth/sessions':
        return reply(200, { sessions: mine.map(([value, session]) => ({ id: session.handle, current: value === token })) });
      case 'POST /api/auth/logout':
        if (this.bug !== 'sign-out-keeps-session') this.sessions.delete(token);
        return reply(204, undefined, 'sid=; Max-Age=0');
      case 'DELETE /api/auth/sessions/:id': {
        const target = mine.find(([, session]) => session.handle === path.slice('/api/auth/sessions/'.length));
        if (target === undefined) return reply(404);
        if (this.bug !== 'revoke-keeps-session') this.sessions.delete(target[0]);
        return reply(204);
      }
      case 'POST /api/auth/password': {
        const { refused, changes } = refuse();
        if (!changes) return overloaded();
        if (this.users.get(current.email) !== body.currentPassword) return reply(403);
        this.users.set(current.email, body.newPassword as string);
        if (refused) return overloaded(); // the new password is in, the sessions and the answer say nothing happened
        if (this.bug !== 'password-keeps-others') for (const [value] of mine) if (value !== token) this.sessions.delete(value);
        if (this.bug !== 'rotation-keeps-old-id') this.sessions.delete(token);
        const value = randomUUID();
        this.sessions.set(value, { handle: randomUUID(), email: current.email });
        return reply(204, undefined, `sid=${value}; Path=/; HttpOnly`);
      }
    }
    return reply(404);
  }
}
