/**
 * Failures are typed errors with a stable `code`; expected outcomes (no session,
 * expired session, bad cookie) are values, never exceptions. Messages never
 * contain tokens or secrets.
 */
export type KeycardErrorCode =
  | 'KEYCARD_INVALID_OPTIONS'
  | 'KEYCARD_STORE_UNAVAILABLE'
  | 'KEYCARD_SESSION_EXISTS'
  | 'KEYCARD_UNSUPPORTED'
  | 'KEYCARD_UNSUPPORTED_CONTEXT'
  | 'KEYCARD_INVALID_VALUE'
  | 'KEYCARD_SESSION_LIMIT'
  | 'KEYCARD_PASSWORD_POLICY'
  | 'KEYCARD_UNSUPPORTED_HASH'
  | 'KEYCARD_THROTTLED'
  | 'KEYCARD_INVALID_COOKIE'
  | 'KEYCARD_COOKIE_TOO_LARGE'
  | 'KEYCARD_OVERLOADED'
  | 'KEYCARD_OIDC_FAILED'
  | 'KEYCARD_OIDC_UNAVAILABLE'
  // Refusals the guards answer (401/403), on every transport: see RefusalCode.
  | RefusalCode
  // Wiring mistakes, raised by the adapters (keycard/nest, keycard/passport).
  | 'KEYCARD_NOT_LOADED'
  | 'KEYCARD_RESPONSE_SENT'
  | 'KEYCARD_CSRF_NO_RESPONSE'
  | 'KEYCARD_CSRF_NOT_CONFIGURED'
  | 'KEYCARD_SOCKET_NOT_AUTHENTICATED'
  | 'KEYCARD_SESSION_GONE'
  | 'KEYCARD_RESPONSE_SENT';

/**
 * Codes of refusals: the caller is not allowed (not signed in, missing role,
 * stale sign-in, CSRF). Not failures of keycard; keycard/nest answers them
 * with 401/403 over HTTP, GraphQL errors and WebSocket/RPC error bodies.
 */
export type RefusalCode =
  | 'KEYCARD_UNAUTHENTICATED'
  | 'KEYCARD_FORBIDDEN_ROLE'
  | 'KEYCARD_REAUTHENTICATE'
  | 'KEYCARD_CSRF_CROSS_SITE'
  | 'KEYCARD_CSRF_MISSING'
  | 'KEYCARD_CSRF_INVALID'
  | 'KEYCARD_CSRF_CONTENT_TYPE'
  | 'KEYCARD_CSRF_GET_MUTATION';

export class KeycardError extends Error {
  readonly code: KeycardErrorCode;
  constructor(code: KeycardErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Options rejected at startup; the message names the option and what is wrong. */
export class InvalidOptionsError extends KeycardError {
  constructor(message: string) {
    super('KEYCARD_INVALID_OPTIONS', message);
  }
}

/** The store did not answer in time or refused the connection. Maps to HTTP 503. */
export class StoreUnavailableError extends KeycardError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KEYCARD_STORE_UNAVAILABLE', message, options);
  }
}

/** `create` found the id taken. With 256-bit ids this means a broken random source. */
export class SessionExistsError extends KeycardError {
  constructor() {
    super('KEYCARD_SESSION_EXISTS', 'a session with this id already exists');
  }
}

/** A store cannot do what was asked (for example a connect-store without a per-user index). */
export class UnsupportedOperationError extends KeycardError {
  constructor(message: string) {
    super('KEYCARD_UNSUPPORTED', message);
  }
}

/** A value that cannot be stored in a session (not JSON-serialisable). */
export class InvalidSessionValueError extends KeycardError {
  constructor(message: string) {
    super('KEYCARD_INVALID_VALUE', message);
  }
}

/** Sign-in refused because the user already has the maximum number of sessions. */
export class SessionLimitError extends KeycardError {
  constructor(limit: number) {
    super('KEYCARD_SESSION_LIMIT', `the user already has ${limit} active sessions`);
  }
}

/**
 * Sign-in refused by `LoginThrottle.assertAllowed`: too many recent failures on
 * the account or from the client address. Maps to HTTP 429 with `Retry-After:
 * retryAfterSeconds`. The message names neither the account nor the address;
 * `scope` is for server-side logs and metrics only — telling the client which
 * limit refused it would tell an attacker whether the account is under attack.
 */
export class SignInThrottledError extends KeycardError {
  /** Whole seconds until an attempt can be admitted again, at least 1: the `Retry-After` value. */
  readonly retryAfterSeconds: number;
  /** Which limit refused the attempt. Never send it to the client. */
  readonly scope: 'account' | 'ip' | 'device';
  constructor(retryAfterSeconds: number, scope: 'account' | 'ip' | 'device') {
    if (typeof retryAfterSeconds !== 'number' || !Number.isFinite(retryAfterSeconds)) {
      throw new TypeError(`SignInThrottledError: retryAfterSeconds must be a finite number, got ${String(retryAfterSeconds)}`);
    }
    const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
    super('KEYCARD_THROTTLED', `too many sign-in attempts; retry after ${seconds} s`);
    this.retryAfterSeconds = seconds;
    this.scope = scope;
  }
}

/**
 * An application cookie that cannot be written as asked (a name that is not a
 * token, a `;` in a path, Max-Age past 400 days, a name keycard itself uses,
 * SameSite=None without Secure). A programming error: it maps to HTTP 500.
 */
export class InvalidCookieError extends KeycardError {
  constructor(message: string) {
    super('KEYCARD_INVALID_COOKIE', message);
  }
}

/**
 * A cookie whose name and value exceed the 4096 bytes browsers keep
 * (rfc6265bis §5.6): a browser would drop it silently, so keycard refuses to
 * send it. Maps to HTTP 500; `bytes` says by how much it is over.
 */
export class CookieTooLargeError extends KeycardError {
  readonly bytes: number;
  constructor(name: string, bytes: number, limit: number) {
    super('KEYCARD_COOKIE_TOO_LARGE', `cookie "${name}" would be ${bytes} bytes; browsers keep at most ${limit} (name and value)`);
    this.bytes = bytes;
  }
}

/**
 * A security write (sign-out, revocation, the rotation of a signed-in
 * session, a role refresh) reached the Redis master but not the replicas it
 * needs within the bound: a failover now could undo it, so it is not reported
 * done. It is a StoreUnavailableError (HTTP 503): the client retries, and the
 * retry succeeds once a replica acknowledges.
 */
export class WriteNotDurableError extends StoreUnavailableError {
  /** Replicas that had to acknowledge. */
  readonly required: number;
  /** Replicas that did within the bound. */
  readonly acknowledged: number;
  constructor(required: number, acknowledged: number, timeoutMs: number) {
    super(`session store: ${acknowledged} of ${required} replica(s) acknowledged the write within ${timeoutMs} ms`);
    this.required = required;
    this.acknowledged = acknowledged;
  }
}

/**
 * Work that runs in a bounded queue (password hashing) was refused because
 * the queue was full, or the request waited longer than allowed for a slot.
 * Maps to HTTP 503 with `Retry-After: retryAfterSeconds`: the server is at
 * capacity, the client did nothing wrong, and queueing without limit would
 * make every later request wait (a denial of service). `work` names what was
 * refused, for logs; the message never contains request data.
 */
export class OverloadedError extends KeycardError {
  /** Whole seconds a client should wait before trying again, at least 1. */
  readonly retryAfterSeconds: number;
  constructor(work: string, retryAfterSeconds: number) {
    const seconds = Math.max(1, Math.ceil(Number.isFinite(retryAfterSeconds) ? retryAfterSeconds : 1));
    super('KEYCARD_OVERLOADED', `${work} is at capacity; retry after ${seconds} s`);
    this.retryAfterSeconds = seconds;
  }
}
