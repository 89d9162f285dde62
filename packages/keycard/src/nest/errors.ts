import { HttpException } from '@nestjs/common';
import { KeycardError, OverloadedError, SignInThrottledError, type KeycardErrorCode, type RefusalCode } from '../core/errors.js';
import type { Transport } from './context.js';

/** Codes of the answers the guards give (401/403); they are refusals, not failures. */
export type SessionAccessCode = RefusalCode;

/** Every `code` a keycard error response body can carry. */
export type SessionErrorCode = KeycardErrorCode;

/** The JSON body of every keycard error response: Nest's usual shape plus a stable `code`. */
export interface SessionErrorBody {
  readonly statusCode: number;
  readonly error: string;
  readonly message: string;
  readonly code: SessionErrorCode;
}

/**
 * An HTTP error from keycard; `code` is stable, `message` may be reworded.
 * `headers` are response headers the answer needs (`Retry-After` on a 429):
 * `SessionExceptionFilter` sets them, and an application filter that answers
 * a `SessionHttpException` itself must set them too.
 */
export class SessionHttpException extends HttpException {
  readonly code: SessionErrorCode;
  readonly headers: Readonly<Record<string, string>>;
  constructor(
    status: number,
    code: SessionErrorCode,
    message: string,
    options?: { cause?: unknown; headers?: Readonly<Record<string, string>> },
  ) {
    const body: SessionErrorBody = { statusCode: status, error: REASONS[status] ?? 'Error', message, code };
    super(body, status, { cause: options?.cause, errorCode: code });
    this.code = code;
    this.headers = Object.freeze({ ...options?.headers });
  }
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  409: 'Conflict',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

/**
 * The one table from keycard outcomes to HTTP. Guards, the exception filter
 * and the Fastify send hook all go through it, so a status is decided once.
 * Messages are fixed sentences: never a stack, a token, a store address or a
 * session key.
 */
export function toHttpException(error: KeycardError | SessionAccessCode): SessionHttpException {
  if (typeof error === 'string') {
    switch (error) {
      case 'KEYCARD_UNAUTHENTICATED':
        return new SessionHttpException(401, error, 'Sign in to continue.');
      case 'KEYCARD_FORBIDDEN_ROLE':
        return new SessionHttpException(403, error, 'Your account does not have a role this action requires.');
      case 'KEYCARD_REAUTHENTICATE':
        return new SessionHttpException(403, error, 'This action needs a recent sign-in: sign in again to continue.');
      // CSRF (CsrfGuard): never the expected token, never the submitted one.
      case 'KEYCARD_CSRF_CROSS_SITE':
        return new SessionHttpException(403, error, 'Cross-site request refused: submit this action from this site.');
      case 'KEYCARD_CSRF_MISSING':
        return new SessionHttpException(403, error, 'CSRF token missing: send it in the x-csrf-token header or the _csrf form field.');
      case 'KEYCARD_CSRF_INVALID':
        return new SessionHttpException(403, error, 'CSRF token invalid for this session: reload the page and try again.');
      // GraphQL (CsrfGuard on resolvers): bodies and methods a cross-site page can send without a preflight.
      case 'KEYCARD_CSRF_CONTENT_TYPE':
        return new SessionHttpException(
          403,
          error,
          'GraphQL requests must be sent as application/json (form encodings and text/plain are refused: a cross-site form can send them).',
        );
      case 'KEYCARD_CSRF_GET_MUTATION':
        return new SessionHttpException(403, error, 'GraphQL mutations must be sent with POST, not GET.');
    }
  }
  // A refusal already decided for another transport (a service shared by resolvers and controllers): same status, code and message.
  if (error instanceof SessionAccessError) return new SessionHttpException(error.status, error.code, error.message, { cause: error });
  const cause = { cause: error };
  switch (error.code) {
    case 'KEYCARD_STORE_UNAVAILABLE':
      return new SessionHttpException(503, error.code, 'The session store is unavailable; try again shortly.', cause);
    case 'KEYCARD_SESSION_LIMIT':
      // 409, not 403: the user is allowed in, the state of their other sessions is in the way.
      return new SessionHttpException(409, error.code, 'Too many active sessions: sign out on another device first.', cause);
    case 'KEYCARD_PASSWORD_POLICY':
      // The policy message is written for the user ("at least 8 characters").
      return new SessionHttpException(400, error.code, error.message, cause);
    case 'KEYCARD_THROTTLED': {
      // Neither the account, the address nor the scope: which limit refused it is the server's business.
      const seconds = error instanceof SignInThrottledError ? error.retryAfterSeconds : 1;
      return new SessionHttpException(429, error.code, 'Too many sign-in attempts: try again later.', {
        ...cause,
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(seconds))) },
      });
    }
    case 'KEYCARD_OVERLOADED': {
      // The server is at capacity (a full hashing queue): nothing about the request is wrong, retry later.
      const seconds = error instanceof OverloadedError ? error.retryAfterSeconds : 1;
      return new SessionHttpException(503, error.code, 'The server is busy; try again shortly.', {
        ...cause,
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(seconds))) },
      });
    }
    case 'KEYCARD_OIDC_FAILED':
      // Which check failed (state, expiry, redirect URI, provider answer) is for server logs only.
      return new SessionHttpException(400, error.code, 'Sign-in with the identity provider failed: start again.', cause);
    case 'KEYCARD_OIDC_UNAVAILABLE':
      return new SessionHttpException(503, error.code, 'The identity provider is unavailable; try again shortly.', cause);
    case 'KEYCARD_UNSUPPORTED':
      return new SessionHttpException(501, error.code, 'The session store does not support this operation.', cause);
    default:
      return new SessionHttpException(500, error.code, 'Internal server error.', cause);
  }
}

/** Runs `read`, turning a KeycardError it throws into its HTTP exception (401, 403, 503, …); other errors pass. */
export function httpErrorsOf<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof KeycardError) throw toHttpException(error);
    throw error;
  }
}

/** `extensions.code` of a GraphQL error, by the HTTP status the same refusal has over HTTP (Apollo's names). */
const GRAPHQL_CODES: Readonly<Record<number, string>> = {
  400: 'BAD_USER_INPUT',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  409: 'CONFLICT',
  429: 'TOO_MANY_REQUESTS',
  503: 'SERVICE_UNAVAILABLE',
};

/** What a GraphQL client reads off a keycard error: `code` (Apollo's convention) and keycard's own code. */
export interface SessionErrorExtensions {
  readonly code: string;
  readonly keycardCode: SessionErrorCode;
}

/**
 * A keycard refusal or failure outside HTTP: a GraphQL resolver, a gateway
 * message handler, a microservice handler. Same `status`, `code` and
 * `message` as the HTTP answer (`toHttpException`). graphql-js copies an
 * error's `extensions` into the GraphQL error, so resolvers answer
 * `{ message, extensions: { code: 'UNAUTHENTICATED', keycardCode: 'KEYCARD_UNAUTHENTICATED' } }`
 * on Apollo and Mercurius alike; over RPC and WebSockets the client gets
 * `body`. It is a `KeycardError` like every keycard error: an application
 * may throw one from code shared by resolvers and controllers, and over HTTP
 * `SessionExceptionFilter` answers it with its own status and code (401,
 * 403), not as an unknown keycard failure (500).
 */
export class SessionAccessError extends KeycardError {
  readonly status: number;
  readonly extensions: SessionErrorExtensions;
  constructor(status: number, code: SessionErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
    this.extensions = { code: GRAPHQL_CODES[status] ?? 'INTERNAL_SERVER_ERROR', keycardCode: code };
  }

  /** What RPC and WebSocket clients receive: Nest's `{ status: 'error', message }` plus keycard's code. */
  get body(): { readonly status: 'error'; readonly statusCode: number; readonly code: SessionErrorCode; readonly message: string } {
    return { status: 'error', statusCode: this.status, code: this.code, message: this.message };
  }
}

/** The same outcome as `toHttpException`, for transports other than HTTP. */
export function toAccessError(error: KeycardError | SessionAccessCode, message?: string): SessionAccessError {
  if (error instanceof SessionAccessError && message === undefined) return error;
  const http = toHttpException(error);
  const body = http.getResponse() as SessionErrorBody;
  return new SessionAccessError(http.getStatus(), http.code, message ?? body.message, { cause: http.cause });
}

/**
 * How a WebSocket transport wants errors: Nest's ws exception handler only
 * forwards a `WsException`'s payload (anything else becomes "Internal server
 * error"), and keycard/nest must not import `@nestjs/websockets`, so keycard's
 * socket adapters hand their `WsException` in here.
 */
let wsErrorFactory: ((body: SessionAccessError['body']) => Error) | null = null;

/** @internal Called by keycard's WebSocket adapters. */
export function useWsErrors(factory: (body: SessionAccessError['body']) => Error): void {
  wsErrorFactory = factory;
}

/** A keycard outcome (refusal code or KeycardError) as the error to throw on `transport`. */
export function refusalFor(transport: Transport, error: KeycardError | SessionAccessCode, message?: string): Error {
  if (transport === 'http') {
    const exception = toHttpException(error);
    return message === undefined ? exception : new SessionHttpException(exception.getStatus(), exception.code, message, { cause: exception.cause });
  }
  const access = toAccessError(error, message);
  return transport === 'ws' && wsErrorFactory !== null ? wsErrorFactory(access.body) : access;
}

/** Runs `read`, turning a KeycardError it throws into `transport`'s refusal (503 for a store outage, …); other errors pass. */
export function transportErrorsOf<T>(transport: Transport, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof KeycardError) throw refusalFor(transport, error);
    throw error;
  }
}
