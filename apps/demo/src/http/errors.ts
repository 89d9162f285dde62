import { HttpException, HttpStatus } from '@nestjs/common';

/** 429 with the seconds to wait; the exception filter turns it into `Retry-After`. */
export class TooManyAttemptsException extends HttpException {
  constructor(
    readonly retryAfterSeconds: number,
    what = 'sign-in attempts',
  ) {
    super(
      { statusCode: 429, error: 'Too Many Requests', message: `too many ${what}; try again in ${retryAfterSeconds} seconds` },
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

/** Said for a body that does not parse as JSON; never the parser's own words, which quote the input. */
export const BODY_NOT_JSON = 'the request body is not valid JSON';
/** Said when the body is missing, or is JSON but not an object. */
export const BODY_NOT_OBJECT = 'the request body must be a JSON object';
