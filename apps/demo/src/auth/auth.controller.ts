import {
  Body,
  ConflictException,
  Controller,
  Delete,
  ForbiddenException,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Req,
  UnauthorizedException,
} from '@nestjs/common';
import { StoreUnavailableError, type Principal, type Session as KeycardSession } from 'keycard';
import { INVALID_CREDENTIALS, TooManyAttemptsException } from '../http/errors.js';
import { header, type AnyRequest } from '../http/platform-request.js';
import { CurrentUser, Public, Session, SkipCsrf } from 'keycard/nest';
import { csrfToken } from '../csrf/csrf-token.js';
import { publicUser, userOfPrincipal } from '../users/user.js';
import { AccountService } from './account.service.js';
import { LoginBody, PasswordChangeBody, RegisterBody, TokenBody } from './schemas.js';
import { RegistrationService } from './registration.js';
import { rememberDevice, SignInService, type SignInOutcome } from './sign-in.service.js';

/** The JSON API of SPEC "The reference app": status codes are the contract. */
@Controller('api/auth')
export class AuthController {
  constructor(
    private readonly signIns: SignInService,
    private readonly account: AccountService,
    private readonly registrations: RegistrationService,
  ) {}

  /**
   * A client that presents a session gets that session's token. While the
   * store is down that session cannot be read: 503, as for any request that
   * needs it, rather than a pre-session token its next request would be
   * refused with (403 "invalid for this session").
   */
  @Public()
  @Get('csrf')
  csrf(@Req() request: AnyRequest, @Session() session: KeycardSession) {
    if (session.transport !== null && !session.available) throw new StoreUnavailableError('the session store is down');
    return { token: csrfToken(request) };
  }

  @Public()
  @Post('register')
  async register(@Body({ schema: RegisterBody }) body: RegisterBody, @Req() request: AnyRequest, @Session() session: KeycardSession) {
    const outcome = await this.registrations.register(body, session, request.ip);
    if (outcome.kind === 'limited') throw new TooManyAttemptsException(outcome.retryAfterSeconds, 'registrations from this address');
    if (outcome.kind === 'taken') throw new ConflictException('an account with this email already exists');
    return { user: publicUser(outcome.user) };
  }

  @Public()
  @Post('login')
  @HttpCode(200)
  async login(@Body({ schema: LoginBody }) body: LoginBody, @Req() request: AnyRequest, @Session() session: KeycardSession) {
    const { user, device } = signedInUser(await this.signIns.attempt(body.email, body.password, request));
    // Null: the password changed while it was being checked; answered like a wrong password.
    const signedIn = await this.account.signIn(session, user, body.remember ?? false);
    if (!signedIn) throw new UnauthorizedException(INVALID_CREDENTIALS);
    rememberDevice(request, device);
    return { user: publicUser(signedIn) };
  }

  /**
   * A bearer token for clients without cookies: the same revocable, listable
   * session, no cookie set. No CSRF token needed (SPEC): it sets no cookie and
   * takes the credentials in the body. But a cross-site Origin or
   * `Sec-Fetch-Site: cross-site` is refused (403): otherwise any page a user
   * visits could send guesses from their browser, and lock their account.
   */
  @Public()
  @SkipCsrf('token')
  @Post('token')
  async token(@Body({ schema: TokenBody }) body: TokenBody, @Req() request: AnyRequest) {
    const { user } = signedInUser(await this.signIns.attempt(body.email, body.password, request));
    const issued = await this.account.issueToken(user, {
      userAgent: header(request, 'user-agent')?.slice(0, 512) ?? null,
      ip: request.ip ?? null,
    });
    if (!issued) throw new UnauthorizedException(INVALID_CREDENTIALS);
    return { token: issued.token, expiresAt: new Date(issued.expiresAt).toISOString() };
  }

  /** Always 204: signing out without a session is not an error. */
  @Public()
  @Post('logout')
  @HttpCode(204)
  async logout(@Session() session: KeycardSession): Promise<void> {
    await session.signOut();
  }

  @Get('me')
  me(@CurrentUser() principal: Principal) {
    return { user: userOfPrincipal(principal) };
  }

  @Get('sessions')
  async sessions(@CurrentUser() principal: Principal, @Session() session: KeycardSession) {
    return { sessions: await this.account.list(principal.id, session) };
  }

  @Delete('sessions/:id')
  @HttpCode(204)
  async revoke(@Param('id') id: string, @CurrentUser() principal: Principal, @Session() session: KeycardSession) {
    if (!(await this.account.revoke(session, principal.id, id))) throw new NotFoundException('no such session');
  }

  @Delete('sessions')
  @HttpCode(204)
  async revokeOthers(@CurrentUser() principal: Principal, @Session() session: KeycardSession): Promise<void> {
    await this.account.revokeOthers(session, principal.id);
  }

  @Post('password')
  @HttpCode(204)
  async password(
    @Body({ schema: PasswordChangeBody }) body: PasswordChangeBody,
    @Req() request: AnyRequest,
    @CurrentUser() principal: Principal,
    @Session() session: KeycardSession,
  ): Promise<void> {
    const outcome = await this.account.changePassword(session, principal.id, body.currentPassword, body.newPassword, request);
    if (outcome.kind === 'throttled') throw new TooManyAttemptsException(outcome.retryAfterSeconds, 'password attempts');
    if (outcome.kind === 'wrong') throw new ForbiddenException('the current password is wrong');
  }
}

/** The user, or the SPEC's failures: one 401 body for unknown email and wrong password, 429 + Retry-After. */
function signedInUser(outcome: SignInOutcome) {
  if (outcome.kind === 'throttled') throw new TooManyAttemptsException(outcome.retryAfterSeconds);
  if (outcome.kind === 'invalid') throw new UnauthorizedException(INVALID_CREDENTIALS);
  return outcome;
}
