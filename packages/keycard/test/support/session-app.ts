import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Query,
  Redirect,
  Req,
  Res,
  type ModuleMetadata,
} from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { Principal, Session as KeycardSession } from '../../src/index.js';
import {
  CurrentUser,
  Public,
  RequireFreshAuth,
  Roles,
  Session,
  SessionModule,
  SessionService,
  sessionOf,
  type RequestLike,
  type SessionModuleOptions,
} from '../../src/nest/index.js';
import { Gates } from './gate.js';

/** 32+ characters, as the options demand. */
export const SECRET = 'test-secret-0123456789-abcdefghij';

interface PrincipalBody {
  readonly id: string;
  readonly roles?: string[];
  readonly remember?: boolean;
}

function principalOf(body: PrincipalBody): Principal {
  return { id: body.id, roles: body.roles ?? ['user'], authVersion: 1 };
}

/** A minimal response shape both `res` (Express) and `reply` (Fastify) have. */
interface Sendable {
  status(code: number): { send(body: string): unknown };
  header(name: string, value: string): unknown;
}

/**
 * Routes that exercise every path a session takes through Nest. Shared by
 * the e2e table and other engineers' suites (CSRF, passport) that need a
 * signed-in client.
 */
@Controller()
export class SessionTestController {
  constructor(
    private readonly sessions: SessionService,
    private readonly gates: Gates,
  ) {}

  @Public()
  @Get('public/ping')
  ping(): { ok: true } {
    return { ok: true };
  }

  @Public()
  @Get('public/read')
  read(@Session() session: KeycardSession): { user: string | null; note: unknown } {
    return { user: session.principal?.id ?? null, note: session.get('note') ?? null };
  }

  @Get('me')
  me(@CurrentUser() user: Principal): { user: Principal } {
    return { user };
  }

  @Public()
  @Post('login')
  async login(@Session() session: KeycardSession, @Body() body: PrincipalBody): Promise<{ user: Principal | null }> {
    await this.sessions.signIn(session, principalOf(body), { remember: body.remember ?? false });
    return { user: session.principal };
  }

  @Public()
  @Post('login-redirect')
  @Redirect('/me', 303)
  async loginRedirect(@Session() session: KeycardSession, @Body() body: PrincipalBody): Promise<void> {
    await this.sessions.signIn(session, principalOf(body));
  }

  /** Sends the response itself, so it saves the session itself. */
  @Public()
  @Post('login-manual')
  async loginManual(
    @Session() session: KeycardSession,
    @Body() body: PrincipalBody,
    @Req() request: RequestLike,
    @Res() response: Sendable,
  ): Promise<void> {
    await this.sessions.signIn(session, principalOf(body));
    await this.sessions.commit(request, response as never);
    response.status(200).send('signed in');
  }

  /** Sets a cookie of its own on the response, then signs in: both cookies must reach the client. */
  @Public()
  @Post('login-with-theme')
  async loginWithTheme(
    @Session() session: KeycardSession,
    @Body() body: PrincipalBody,
    @Res({ passthrough: true }) response: Sendable,
  ): Promise<{ ok: true }> {
    response.header('Set-Cookie', 'theme=dark; Path=/');
    await this.sessions.signIn(session, principalOf(body));
    return { ok: true };
  }

  /** `sessionOf` on the platform's request and on the raw IncomingMessage finds the `@Session()` one. */
  @Public()
  @Get('public/accessor')
  accessor(@Session() session: KeycardSession, @Req() request: RequestLike): { platform: boolean; raw: boolean } {
    const raw: IncomingMessage = 'raw' in request ? request.raw : request;
    return { platform: sessionOf(request) === session, raw: sessionOf(raw) === session };
  }

  @Post('logout')
  @HttpCode(204)
  async logout(@Session() session: KeycardSession): Promise<void> {
    await this.sessions.signOut(session);
  }

  @Post('logout-then-fail')
  async logoutThenFail(@Session() session: KeycardSession): Promise<never> {
    await this.sessions.signOut(session);
    throw new BadRequestException('signed out, then failed');
  }

  @Public()
  @Post('note')
  note(@Session() session: KeycardSession, @Body() body: { note: string }): { ok: true } {
    session.set('note', body.note);
    return { ok: true };
  }

  @Get('data')
  data(@Session() session: KeycardSession): Record<string, unknown> {
    return Object.fromEntries(session.keys().map((key) => [key, session.get(key)]));
  }

  @Post('rotate')
  async rotate(@Session() session: KeycardSession, @Query('keep') keep: string | undefined): Promise<{ ok: true }> {
    await this.sessions.rotate(session, { keepData: keep !== 'false' });
    return { ok: true };
  }

  @Public()
  @Post('token')
  token(@Body() body: PrincipalBody): Promise<{ token: string; expiresAt: number }> {
    return this.sessions.issueToken(principalOf(body), { userAgent: 'test-cli' });
  }

  @Get('sessions')
  async list(@Session() session: KeycardSession, @CurrentUser() user: Principal): Promise<unknown> {
    return { sessions: await this.sessions.listSessions(user.id, session) };
  }

  @Post('sessions/:handle/revoke')
  @HttpCode(204)
  async revokeOne(@CurrentUser() user: Principal, @Param('handle') handle: string): Promise<void> {
    if (!(await this.sessions.revokeSession(user.id, handle))) throw new NotFoundException('no such session');
  }

  @Post('revoke-others')
  @HttpCode(204)
  async revokeOthers(@Session() session: KeycardSession, @CurrentUser() user: Principal): Promise<void> {
    await this.sessions.revokeAll(user.id, { except: session });
  }

  @Post('revoke-all')
  @HttpCode(204)
  async revokeAll(@CurrentUser() user: Principal): Promise<void> {
    await this.sessions.revokeAll(user.id);
  }

  /** What an admin's role change does; public only to keep the tests short. */
  @Public()
  @Post('refresh-principal')
  async refresh(@Body() body: PrincipalBody): Promise<{ changed: number }> {
    return { changed: await this.sessions.refreshPrincipal(principalOf(body)) };
  }

  @Roles('admin')
  @Get('admin')
  admin(): { ok: true } {
    return { ok: true };
  }

  @RequireFreshAuth(60)
  @Get('fresh')
  fresh(): { ok: true } {
    return { ok: true };
  }

  /** Writes a key, then waits at the named gate: the test decides when it finishes. */
  @Post('gated/:gate')
  async gated(
    @Session() session: KeycardSession,
    @Param('gate') gate: string,
    @Body() body: { key: string; value: string },
  ): Promise<{ ok: true }> {
    session.set(body.key, body.value);
    await this.gates.get(gate).pass();
    return { ok: true };
  }
}

/** The root module of a test app: `SessionModule.forRoot({ secrets: SECRET, ...options })` and the test routes. */
export function sessionApp(options: Partial<SessionModuleOptions> = {}, gates = new Gates()): ModuleMetadata {
  return {
    imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false, ...options })],
    controllers: [SessionTestController],
    providers: [{ provide: Gates, useValue: gates }],
  };
}
