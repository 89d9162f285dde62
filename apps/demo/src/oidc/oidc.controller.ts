import { Controller, Get, Inject, Query, Req, Res } from '@nestjs/common';
import type { Session as KeycardSession } from 'keycard';
import { Public, Session } from 'keycard/nest';
import { OidcSignIn, OidcSignInError } from 'keycard/oidc';
import { requestPath, seeOther, type AnyRequest, type AnyResponse } from '../http/platform-request.js';
import { safeNextPath } from '../pages/next-path.js';
import { redirectWithFlash } from '../pages/page-response.js';

/** The app's `OidcSignIn`, present only when OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are set. */
export const OIDC_SIGN_IN = Symbol('demo:oidc-sign-in');

/**
 * "Sign in with …": keycard/oidc's authorization-code flow. The button on
 * /login links here (a GET: starting a flow changes nothing but this
 * browser's pre-authentication session); the provider sends the browser
 * back to /auth/oidc/callback.
 */
@Controller('auth/oidc')
@Public()
export class OidcController {
  constructor(@Inject(OIDC_SIGN_IN) private readonly oidc: OidcSignIn) {}

  @Get()
  async start(@Query('next') next: unknown, @Res({ passthrough: true }) response: AnyResponse, @Session() session: KeycardSession): Promise<string> {
    const { url } = await this.oidc.start(session, { returnTo: safeNextPath(next) });
    return seeOther(response, url);
  }

  @Get('callback')
  async callback(@Req() request: AnyRequest, @Res({ passthrough: true }) response: AnyResponse, @Session() session: KeycardSession): Promise<string> {
    try {
      const { returnTo } = await this.oidc.finish(session, requestPath(request));
      return redirectWithFlash(request, response, safeNextPath(returnTo), 'signed-in');
    } catch (error) {
      // Which check failed is for the logs; the user starts again (or uses the password).
      if (error instanceof OidcSignInError) return redirectWithFlash(request, response, '/login', 'oidc-failed');
      throw error;
    }
  }
}
