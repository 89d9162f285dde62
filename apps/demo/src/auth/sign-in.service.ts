import { Injectable } from '@nestjs/common';
import { LoginThrottle, SessionManager, type ThrottleScope } from 'keycard';
import type { UserRow } from '../database/schema.js';
import { UsersService } from '../users/users.service.js';

export type SignInOutcome =
  | { readonly kind: 'ok'; readonly user: UserRow }
  /** Unknown email or wrong password: callers answer both the same way. */
  | { readonly kind: 'invalid' }
  | { readonly kind: 'throttled'; readonly retryAfterSeconds: number };

/** Checks credentials under the per-account and per-IP limits; shared by the API, tokens and the sign-in form. */
@Injectable()
export class SignInService {
  constructor(
    private readonly users: UsersService,
    private readonly throttle: LoginThrottle,
    private readonly manager: SessionManager,
  ) {}

  async attempt(email: string, password: string, ip: string | undefined): Promise<SignInOutcome> {
    const decision = await this.throttle.check(email, ip ?? null);
    if (!decision.allowed) {
      this.failed('throttled', ip, decision.scope);
      return { kind: 'throttled', retryAfterSeconds: decision.retryAfterSeconds };
    }
    const user = await this.users.verifyCredentials(email, password);
    if (!user) {
      this.failed('bad-password', ip);
      return { kind: 'invalid' };
    }
    await this.throttle.recordSuccess(decision.attempt);
    return { kind: 'ok', user };
  }

  /** The audit/metrics event: never the e-mail; one reason for unknown accounts and wrong passwords alike. */
  private failed(reason: 'throttled' | 'bad-password', ip: string | undefined, scope?: ThrottleScope): void {
    this.manager.events.emit({
      type: 'signInFailed',
      handle: null,
      userId: null,
      at: this.manager.now(),
      reason,
      ...(scope ? { scope } : {}),
      ip: ip ?? null,
    });
  }
}
