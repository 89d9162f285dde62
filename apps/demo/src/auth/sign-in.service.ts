import { Injectable } from '@nestjs/common';
import { LoginThrottle, OverloadedError, type DeviceCookie, type LoginAttempt } from 'keycard';
import { cookiesOf, type RequestLike } from 'keycard/nest';
import type { UserRow } from '../database/schema.js';
import type { AnyRequest } from '../http/platform-request.js';
import { UsersService } from '../users/users.service.js';

/** OWASP's device cookie: the browser signed in to the account it names before (value made by LoginThrottle). */
export const DEVICE_COOKIE = 'device';

export type SignInOutcome =
  | { readonly kind: 'ok'; readonly user: UserRow; readonly device: DeviceCookie | null }
  /** Unknown email or wrong password: callers answer both the same way. */
  | { readonly kind: 'invalid' }
  | { readonly kind: 'throttled'; readonly retryAfterSeconds: number };

/** A password check under the throttle: admitted, or refused with the seconds to wait. */
export type CheckedAttempt<T> =
  | { readonly kind: 'checked'; readonly result: T; readonly attempt: LoginAttempt }
  | { readonly kind: 'throttled'; readonly retryAfterSeconds: number };

/**
 * Checks credentials under the per-account and per-IP limits, with device
 * cookies; shared by the API, tokens, the sign-in form and the
 * current-password check of a password change (SPEC: it counts as a sign-in
 * attempt). The throttle reports failures and lockouts as keycard events
 * (security log, metrics); no e-mail ever leaves here.
 */
@Injectable()
export class SignInService {
  constructor(
    private readonly users: UsersService,
    private readonly throttle: LoginThrottle,
  ) {}

  async attempt(email: string, password: string, request: AnyRequest): Promise<SignInOutcome> {
    const checked = await this.underThrottle(email, request, () => this.users.verifyCredentials(email, password));
    if (checked.kind === 'throttled') return checked;
    if (!checked.result) {
      this.throttle.recordFailure(checked.attempt);
      return { kind: 'invalid' };
    }
    const device = await this.throttle.recordSuccess(checked.attempt);
    return { kind: 'ok', user: checked.result, device };
  }

  /**
   * Runs `check` (a password verification) as a sign-in attempt on `account`:
   * refused past the limits; an attempt the hasher had no room for is
   * refunded (the client answers 503 and may retry without losing an
   * attempt). The caller reports the outcome (`recordFailure` or `succeeded`).
   */
  async underThrottle<T>(account: string, request: AnyRequest, check: () => Promise<T>): Promise<CheckedAttempt<T>> {
    const decision = await this.throttle.check(account, request.ip ?? null, { device: deviceOf(request) });
    if (!decision.allowed) return { kind: 'throttled', retryAfterSeconds: decision.retryAfterSeconds };
    try {
      return { kind: 'checked', result: await check(), attempt: decision.attempt };
    } catch (error) {
      if (error instanceof OverloadedError) await this.throttle.cancel(decision.attempt);
      throw error;
    }
  }

  failed(attempt: LoginAttempt): void {
    this.throttle.recordFailure(attempt);
  }

  succeeded(attempt: LoginAttempt): Promise<DeviceCookie | null> {
    return this.throttle.recordSuccess(attempt);
  }
}

/** The device cookie the browser sent, if any (keycard's cookie jar: `__Host-device` over HTTPS). */
function deviceOf(request: AnyRequest): string | undefined {
  return cookiesOf(request as unknown as RequestLike).get(DEVICE_COOKIE);
}

/** Sets the device cookie a successful sign-in earned (HttpOnly, SameSite=Lax, `__Host-` when Secure). */
export function rememberDevice(request: AnyRequest, device: DeviceCookie | null): void {
  if (device) cookiesOf(request as unknown as RequestLike).set(DEVICE_COOKIE, device.value, { maxAge: device.maxAge });
}
