import { Body, Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import type { Principal, Session as KeycardSession } from 'keycard';
import { AccountService } from '../auth/account.service.js';
import { PasswordChangeBody } from '../auth/schemas.js';
import { addHeader, type AnyRequest, type AnyResponse } from '../http/platform-request.js';
import { waitOf } from './auth-pages.controller.js';
import { validateForm } from '../http/validation.js';
import { CurrentUser, Public, Session, SessionService } from 'keycard/nest';
import { userOfPrincipal } from '../users/user.js';
import { UsersService } from '../users/users.service.js';
import { pageContextOf } from './page-context.js';
import { redirectWithFlash, sendPage } from './page-response.js';
import { homePage, passwordPage, profilePage, sessionsPage } from './views/account-pages.js';

/** The signed-in pages. A signed-out visitor is sent to /login?next=… by the exception filter. */
@Controller()
export class AccountPagesController {
  constructor(
    private readonly users: UsersService,
    private readonly account: AccountService,
    private readonly sessionService: SessionService,
  ) {}

  @Public()
  @Get()
  home(@Req() request: AnyRequest, @Res({ passthrough: true }) response: AnyResponse, @Session() session: KeycardSession) {
    const ctx = pageContextOf(request, session);
    return sendPage(request, response, ctx, 200, homePage(ctx));
  }

  @Get('profile')
  async profile(
    @Req() request: AnyRequest,
    @Res({ passthrough: true }) response: AnyResponse,
    @Session() session: KeycardSession,
    @CurrentUser() principal: Principal,
  ) {
    const ctx = pageContextOf(request, session);
    const row = await this.users.findById(principal.id);
    const user = row ? { ...userOfPrincipal(principal), email: row.email, name: row.name } : userOfPrincipal(principal);
    return sendPage(request, response, ctx, 200, profilePage(ctx, user, row?.createdAt ?? new Date()));
  }

  @Get('sessions')
  async sessions(
    @Req() request: AnyRequest,
    @Res({ passthrough: true }) response: AnyResponse,
    @Session() session: KeycardSession,
    @CurrentUser() principal: Principal,
  ) {
    const ctx = pageContextOf(request, session);
    const list = await this.sessionService.listSessions(principal.id, session);
    const views = list.map((info) => ({ ...info, id: info.handle }));
    return sendPage(request, response, ctx, 200, sessionsPage(ctx, views));
  }

  @Post('sessions/revoke-others')
  async revokeOthers(
    @Req() request: AnyRequest,
    @Res({ passthrough: true }) response: AnyResponse,
    @Session() session: KeycardSession,
    @CurrentUser() principal: Principal,
  ) {
    await this.account.revokeOthers(session, principal.id);
    return redirectWithFlash(request, response, '/sessions', 'others-revoked');
  }

  @Post('sessions/:id/revoke')
  async revoke(
    @Param('id') id: string,
    @Req() request: AnyRequest,
    @Res({ passthrough: true }) response: AnyResponse,
    @Session() session: KeycardSession,
    @CurrentUser() principal: Principal,
  ) {
    const current = id === session.handle;
    const revoked = await this.account.revoke(session, principal.id, id);
    if (current) return redirectWithFlash(request, response, '/login?signed-out');
    return redirectWithFlash(request, response, '/sessions', revoked ? 'session-revoked' : undefined);
  }

  @Get('password')
  password(@Req() request: AnyRequest, @Res({ passthrough: true }) response: AnyResponse, @Session() session: KeycardSession) {
    const ctx = pageContextOf(request, session);
    return sendPage(request, response, ctx, 200, passwordPage(ctx));
  }

  @Post('password')
  async changePassword(
    @Body() body: Record<string, unknown> | undefined,
    @Req() request: AnyRequest,
    @Res({ passthrough: true }) response: AnyResponse,
    @Session() session: KeycardSession,
    @CurrentUser() principal: Principal,
  ) {
    const ctx = pageContextOf(request, session);
    const form = validateForm(PasswordChangeBody, body);
    if (!form.ok) return sendPage(request, response, ctx, 400, passwordPage(ctx, { fields: form.fields }));
    const outcome = await this.account.changePassword(session, principal.id, form.value.currentPassword, form.value.newPassword, request);
    if (outcome.kind === 'throttled') {
      addHeader(response, 'Retry-After', String(outcome.retryAfterSeconds));
      return sendPage(request, response, ctx, 429, passwordPage(ctx, { form: `Too many attempts. Try again in ${waitOf(outcome.retryAfterSeconds)}.` }));
    }
    if (outcome.kind === 'wrong') {
      return sendPage(request, response, ctx, 403, passwordPage(ctx, { fields: { currentPassword: 'This is not your current password.' } }));
    }
    return redirectWithFlash(request, response, '/sessions', 'password-changed');
  }
}
