import { Body, Controller, Get, Inject, Post, Query, Req, Res } from '@nestjs/common';
import type { Session as KeycardSession } from 'keycard';
import { AccountService } from '../auth/account.service.js';
import { LoginForm, RegisterBody } from '../auth/schemas.js';
import { RegistrationService } from '../auth/registration.js';
import { rememberDevice, SignInService } from '../auth/sign-in.service.js';
import { addHeader, type AnyRequest, type AnyResponse } from '../http/platform-request.js';
import { validateForm } from '../http/validation.js';
import { Public, Session } from 'keycard/nest';
import type { AppConfig } from '../config/config.js';
import { APP_CONFIG } from '../config/tokens.js';
import { safeNextPath } from './next-path.js';
import { pageContextOf } from './page-context.js';
import { redirectWithFlash, sendPage } from './page-response.js';
import { loginPage, registerPage } from './views/auth-pages.js';

type FormBody = Record<string, unknown> | undefined;

/** Sign-in, registration and sign-out as HTML forms (post/redirect/get). */
@Controller()
@Public()
export class AuthPagesController {
  constructor(
    private readonly signIns: SignInService,
    private readonly account: AccountService,
    private readonly registrations: RegistrationService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('login')
  login(
    @Query('next') next: unknown,
    @Req() request: AnyRequest,
    @Res({ passthrough: true }) response: AnyResponse,
    @Session() session: KeycardSession,
  ) {
    const target = safeNextPath(next);
    if (session.principal) return redirectWithFlash(request, response, target);
    const ctx = pageContextOf(request, session);
    return sendPage(request, response, ctx, 200, loginPage(ctx, target, undefined, undefined, this.config.oidc?.label));
  }

  @Post('login')
  async submitLogin(
    @Body() body: FormBody,
    @Req() request: AnyRequest,
    @Res({ passthrough: true }) response: AnyResponse,
    @Session() session: KeycardSession,
  ) {
    const ctx = pageContextOf(request, session);
    const values = { email: String(body?.['email'] ?? ''), remember: body?.['remember'] === 'on' ? 'on' : '' };
    const next = safeNextPath(body?.['next']);
    const form = validateForm(LoginForm, body);
    if (!form.ok) return sendPage(request, response, ctx, 400, loginPage(ctx, next, values, { fields: form.fields }, this.config.oidc?.label));
    const outcome = await this.signIns.attempt(form.value.email, form.value.password, request);
    if (outcome.kind === 'throttled') {
      addHeader(response, 'Retry-After', String(outcome.retryAfterSeconds));
      return sendPage(request, response, ctx, 429, loginPage(ctx, next, values, { form: `Too many attempts. Try again in ${waitOf(outcome.retryAfterSeconds)}.` }, this.config.oidc?.label));
    }
    // Not signed in: the password changed while it was being checked; answered like a wrong password.
    if (outcome.kind === 'invalid' || !(await this.account.signIn(session, outcome.user, form.value.remember))) {
      return sendPage(request, response, ctx, 401, loginPage(ctx, next, values, { form: 'Email or password is incorrect.' }, this.config.oidc?.label));
    }
    rememberDevice(request, outcome.device);
    return redirectWithFlash(request, response, next, 'signed-in');
  }

  @Get('register')
  register(@Req() request: AnyRequest, @Res({ passthrough: true }) response: AnyResponse, @Session() session: KeycardSession) {
    if (session.principal) return redirectWithFlash(request, response, '/');
    const ctx = pageContextOf(request, session);
    return sendPage(request, response, ctx, 200, registerPage(ctx));
  }

  @Post('register')
  async submitRegister(
    @Body() body: FormBody,
    @Req() request: AnyRequest,
    @Res({ passthrough: true }) response: AnyResponse,
    @Session() session: KeycardSession,
  ) {
    const ctx = pageContextOf(request, session);
    const values = { email: String(body?.['email'] ?? ''), name: String(body?.['name'] ?? '') };
    const form = validateForm(RegisterBody, body);
    if (!form.ok) return sendPage(request, response, ctx, 400, registerPage(ctx, values, { fields: form.fields }));
    const outcome = await this.registrations.register(form.value, session, request.ip);
    if (outcome.kind === 'limited') {
      addHeader(response, 'Retry-After', String(outcome.retryAfterSeconds));
      const errors = { form: `Too many new accounts from your network. Try again in ${waitOf(outcome.retryAfterSeconds)}.` };
      return sendPage(request, response, ctx, 429, registerPage(ctx, values, errors));
    }
    if (outcome.kind === 'taken') {
      const errors = { fields: { email: 'An account with this email already exists. Sign in instead?' } };
      return sendPage(request, response, ctx, 409, registerPage(ctx, values, errors));
    }
    return redirectWithFlash(request, response, '/', 'registered');
  }

  @Post('logout')
  async logout(@Req() request: AnyRequest, @Res({ passthrough: true }) response: AnyResponse, @Session() session: KeycardSession) {
    await session.signOut();
    // Not a flash cookie: the sign-out's Clear-Site-Data would remove it (see page-context.ts).
    return redirectWithFlash(request, response, '/login?signed-out');
  }
}

/** "a minute", "15 minutes": how long a refused visitor waits, for the page. */
export function waitOf(seconds: number): string {
  const minutes = Math.ceil(seconds / 60);
  return minutes <= 1 ? 'a minute' : `${minutes} minutes`;
}
