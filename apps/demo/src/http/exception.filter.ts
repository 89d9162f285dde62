import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { KeycardError } from 'keycard';
import { findSession, SessionHttpException, toHttpException, type RequestLike } from 'keycard/nest';
import { STATUS_CODES } from 'node:http';
import { errorPage } from '../pages/views/account-pages.js';
import { isPageRequest, pageContextOf } from '../pages/page-context.js';
import { BODY_NOT_JSON, BODY_NOT_OBJECT, TooManyAttemptsException } from './errors.js';
import { addFlash } from '../pages/flash.js';
import { addHeader, requestPath, seeOther, type AnyRequest, type AnyResponse } from './platform-request.js';

interface ErrorBody {
  readonly statusCode: number;
  readonly error: string;
  readonly message: string;
  readonly [key: string]: unknown;
}

/**
 * Every error leaves through here, on both platforms, as JSON for the API
 * (`{statusCode, error, message}`) or as a page for browsers. Client mistakes
 * keep their 4xx; anything unexpected is logged and answered with a bare 500
 * that reveals nothing. A signed-out browser asking for a protected page is
 * sent to sign in and brought back afterwards.
 */
@Catch()
export class AppExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return;
    const http = host.switchToHttp();
    const request = http.getRequest<AnyRequest>();
    const response = http.getResponse<AnyResponse>();
    const adapter = this.adapterHost.httpAdapter;
    const body = this.toBody(exception);

    for (const [name, value] of Object.entries(headersOf(exception))) addHeader(response, name, value);
    if (isPageRequest(request)) {
      if (body.statusCode === 401) {
        const next = request.method === 'GET' ? requestPath(request) : '/';
        addFlash(findSession(request as unknown as RequestLike), 'sign-in-required');
        seeOther(response, `/login?next=${encodeURIComponent(next)}`);
        adapter.reply(response, '', 303);
        return;
      }
      adapter.setHeader(response, 'Content-Type', 'text/html; charset=utf-8');
      const title = body.statusCode === 404 ? 'Page not found' : body.error;
      const message = body.statusCode === 404 ? 'There is nothing at this address.' : body.message;
      adapter.reply(response, errorPage(pageContextOf(request, undefined, true), body.statusCode, title, message), body.statusCode);
      return;
    }
    adapter.reply(response, body, body.statusCode);
  }

  private toBody(exception: unknown): ErrorBody {
    // keycard's own mapping (store down → 503, …), since Nest runs only this catch-all filter.
    if (exception instanceof KeycardError) {
      const mapped = toHttpException(exception);
      if (mapped.getStatus() >= 500 && mapped.getStatus() !== 503) this.logUnexpected(exception);
      return this.toBody(mapped);
    }
    const unparsable = jsonParseFailure(exception);
    if (unparsable) return { statusCode: 400, error: reason(400), message: unparsable };
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const payload = exception.getResponse();
      if (typeof payload === 'object' && payload !== null) {
        const fields = payload as Record<string, unknown>;
        return {
          ...fields,
          statusCode: status,
          error: typeof fields['error'] === 'string' ? fields['error'] : reason(status),
          message: messageOf(fields['message'], exception.message),
        };
      }
      return { statusCode: status, error: reason(status), message: String(payload) };
    }
    // Errors the platforms raise for bad requests (Fastify's FST_ERR_CTP_*, body-parser's) carry a 4xx status.
    const status = statusOf(exception);
    if (status !== undefined && status >= 400 && status < 500) {
      return { statusCode: status, error: reason(status), message: (exception as Error).message };
    }
    this.logUnexpected(exception);
    return { statusCode: 500, error: reason(500), message: 'something went wrong on our side' };
  }

  private logUnexpected(exception: unknown): void {
    const { message, stack } = loggable(exception);
    this.logger.error(message, stack);
  }
}

/**
 * Headers an error's answer needs: `Retry-After` on a 429 (throttled
 * sign-in, registration limit) and on keycard's 503s that say when to come
 * back (a full hashing queue), as keycard's error table gives them.
 */
function headersOf(exception: unknown): Readonly<Record<string, string>> {
  if (exception instanceof TooManyAttemptsException) return { 'Retry-After': String(exception.retryAfterSeconds) };
  if (exception instanceof KeycardError) return toHttpException(exception).headers;
  if (exception instanceof SessionHttpException) return exception.headers;
  return {};
}

/**
 * What the log says about an unexpected error. A database error (Drizzle's
 * "Failed query … params: …", PGlite's and pg's errors with `params`) is
 * reduced to its SQL text (placeholders only) and SQLSTATE: its parameters
 * and the driver's message, which can quote a value, are emails and password
 * hashes, and never reach the log. Other errors keep their message and stack.
 */
export function loggable(exception: unknown): { message: string; stack: string | undefined } {
  const chain: Error[] = [];
  for (let e: unknown = exception; e instanceof Error && chain.length < 8; e = e.cause) chain.push(e);
  if (!chain.some(isDatabaseError)) {
    return exception instanceof Error ? { message: exception.message, stack: exception.stack } : { message: String(exception), stack: undefined };
  }
  const query = chain.map((e) => (e as { query?: unknown }).query).find((q): q is string => typeof q === 'string');
  const code = chain.map((e) => (e as { code?: unknown }).code).find((c): c is string => typeof c === 'string' && SQLSTATE.test(c));
  const outer = chain[0] as Error;
  const message = `database error${code ? ` (SQLSTATE ${code})` : ''} in ${outer.constructor.name}${query ? `: ${query.slice(0, 500)}` : ''}`;
  // Only the frames: the first lines of a stack repeat the message.
  const frames = outer.stack?.split('\n').filter((line) => /^\s+at /.test(line)).join('\n');
  return { message, stack: frames || undefined };
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

function isDatabaseError(error: Error): boolean {
  const fields = error as { params?: unknown; code?: unknown; severity?: unknown };
  return 'params' in fields || (typeof fields.code === 'string' && SQLSTATE.test(fields.code) && 'severity' in fields);
}

/**
 * A fixed sentence for a body that failed to parse as JSON, else undefined.
 * body-parser's message is V8's SyntaxError, which quotes the body
 * ("Unexpected token 'n', "null" is not valid JSON"); Nest's Express adapter
 * wraps it in a BadRequestException (the original is its `cause`).
 */
function jsonParseFailure(exception: unknown): string | undefined {
  for (const error of [exception, exception instanceof Error ? exception.cause : undefined]) {
    if (typeof error !== 'object' || error === null) continue;
    const fields = error as { type?: unknown; code?: unknown; body?: unknown };
    // Express: also strict mode refusing JSON that is not an object or array ("null", "1").
    if (fields.type === 'entity.parse.failed') return parsesAsJson(fields.body) ? BODY_NOT_OBJECT : BODY_NOT_JSON;
    if (fields.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return BODY_NOT_JSON;
  }
  return undefined;
}

function parsesAsJson(body: unknown): boolean {
  if (typeof body !== 'string') return false;
  try {
    JSON.parse(body);
    return true;
  } catch {
    return false;
  }
}

function reason(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

function messageOf(value: unknown, fallback: string): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(String).join('; ');
  return fallback;
}

function statusOf(exception: unknown): number | undefined {
  if (typeof exception !== 'object' || exception === null) return undefined;
  const { statusCode, status } = exception as { statusCode?: unknown; status?: unknown };
  const value = typeof statusCode === 'number' ? statusCode : status;
  return typeof value === 'number' ? value : undefined;
}
