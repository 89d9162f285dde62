import type { Principal } from '../../src/index.js';

declare const users: { principalForOidc(issuer: string, subject: string): Promise<Principal | null> };

// #region readme
import { Controller, Get, Redirect, Req } from '@nestjs/common';
import type { Request } from 'express';
import type { Session as KeycardSession } from '../../src/index.js';
import { Public, Session } from '../../src/nest/index.js';
import { OidcSignIn } from '../../src/oidc/index.js';

const oidc = new OidcSignIn({
  issuer: 'https://accounts.example.com',
  clientId: process.env.OIDC_CLIENT_ID!,
  clientSecret: process.env.OIDC_CLIENT_SECRET!,
  redirectUri: 'https://app.example.com/auth/oidc/callback', // exactly as registered
  // a Principal, or null to refuse; find the user by the provider's (issuer, subject), never by e-mail alone
  principalFor: ({ issuer, subject }) => users.principalForOidc(issuer, subject),
});

@Public()
@Controller('auth/oidc')
export class OidcController {
  @Get() @Redirect()
  async start(@Session() session: KeycardSession) {
    const { url } = await oidc.start(session, { returnTo: '/profile' });
    return { url, statusCode: 303 }; // the session (with the flow in it) is stored before the redirect is sent
  }

  @Get('callback') @Redirect()
  async callback(@Session() session: KeycardSession, @Req() req: Request) {
    const { returnTo } = await oidc.finish(session, req.originalUrl); // Fastify: request.url
    return { url: returnTo, statusCode: 303 };
  }
}
// #endregion readme
