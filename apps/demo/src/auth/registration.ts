import { Inject, Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import { addressBucket, RateLimiter, type Session } from 'keycard';
import type { UserRow } from '../database/schema.js';
import { UsersService, type Registration } from '../users/users.service.js';
import { AccountService } from './account.service.js';

/** DI token of the per-address registration limit (a keycard RateLimiter, REGISTER_MAX_PER_IP per LOGIN_WINDOW). */
export const REGISTRATION_LIMIT = Symbol('REGISTRATION_LIMIT');

export type RegistrationOutcome =
  | { readonly kind: 'registered'; readonly user: UserRow }
  | { readonly kind: 'taken' }
  | { readonly kind: 'limited'; readonly retryAfterSeconds: number };

/**
 * A registration, cheapest refusals first: the per-address limit, then a
 * taken e-mail (no hashing for either), then the bounded hashing queue
 * (keycard's OverloadedError → 503 + Retry-After), the insert, and the
 * sign-in. Atomic from the user's point of view: when the sign-in fails (a
 * session store outage), the new account is taken back before the error
 * answers, so "503" means "nothing was created" and registering again works.
 */
@Injectable()
export class RegistrationService {
  private readonly logger = new Logger('Registration');

  constructor(
    private readonly users: UsersService,
    private readonly account: AccountService,
    @Inject(REGISTRATION_LIMIT) private readonly limit: RateLimiter,
  ) {}

  async register(input: Registration, session: Session, ip: string | undefined): Promise<RegistrationOutcome> {
    const allowed = await this.limit.consume(addressBucket(ip ?? ''));
    if (!allowed.allowed) return { kind: 'limited', retryAfterSeconds: allowed.retryAfterSeconds };
    if (await this.users.isTaken(input.email)) return { kind: 'taken' };
    const created = await this.users.register(input);
    if (!created) return { kind: 'taken' };
    let signedIn: UserRow | null;
    try {
      signedIn = await this.account.signIn(session, created, false);
    } catch (error) {
      if (await this.takeBack(created)) throw error;
      // It could not be taken back: say so, rather than a 503 that reads as "nothing happened".
      throw new ServiceUnavailableException(
        { statusCode: 503, error: 'Service Unavailable', message: 'your account was created, but signing you in failed: sign in to continue' },
        { cause: error },
      );
    }
    // Only if the new account's password was changed before its first sign-in finished: it exists, sign in instead.
    return signedIn ? { kind: 'registered', user: signedIn } : { kind: 'taken' };
  }

  /** True when the account is gone again. */
  private async takeBack(created: UserRow): Promise<boolean> {
    try {
      if (await this.users.unregister(created)) return true;
      this.logger.warn(`a registration whose sign-in failed kept its account (user ${created.id}): it was used meanwhile`);
    } catch (error) {
      this.logger.error(`a registration whose sign-in failed could not be taken back (user ${created.id})`, (error as Error).stack);
    }
    return false;
  }
}
