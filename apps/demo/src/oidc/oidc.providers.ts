import type { Provider } from '@nestjs/common';
import { OidcSignIn } from 'keycard/oidc';
import type { OidcConfig } from '../config/config.js';
import { principalOf } from '../users/user.js';
import { UsersRepository } from '../users/users.repository.js';
import { OIDC_SIGN_IN } from './oidc.controller.js';

/**
 * The provider's verified e-mail signs in the account that has it; an
 * unknown or unverified e-mail signs nobody in (no account is created, and
 * nobody gets the role of an account they did not prove to own).
 */
export function oidcProviders(config: OidcConfig): Provider[] {
  const issuer = new URL(config.issuer);
  const local = issuer.hostname === 'localhost' || issuer.hostname === '127.0.0.1';
  return [
    {
      provide: OIDC_SIGN_IN,
      inject: [UsersRepository],
      useFactory: (users: UsersRepository) =>
        new OidcSignIn({
          issuer: config.issuer,
          clientId: config.clientId,
          clientSecret: config.clientSecret,
          redirectUri: config.redirectUri,
          // Plain http only for a provider on this machine (development).
          allowInsecureIssuer: local,
          principalFor: async ({ claims }) => {
            const email = claims['email'];
            if (typeof email !== 'string' || claims['email_verified'] !== true) return null;
            const user = await users.findByEmail(email.toLowerCase());
            return user ? principalOf(user) : null;
          },
        }),
    },
  ];
}
