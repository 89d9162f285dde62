import { HttpException, HttpStatus } from '@nestjs/common';

/** 429 with the seconds to wait; the exception filter turns it into `Retry-After`. */
export class TooManyAttemptsException extends HttpException {
  constructor(readonly retryAfterSeconds: number) {
    super(
      { statusCode: 429, error: 'Too Many Requests', message: `too many sign-in attempts; try again in ${retryAfterSeconds} seconds` },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}

/** The one 401 body for unknown email and wrong password: the two must be indistinguishable. */
export const INVALID_CREDENTIALS = Object.freeze({
  statusCode: 401,
  error: 'Unauthorized',
  message: 'email or password is incorrect',
});
