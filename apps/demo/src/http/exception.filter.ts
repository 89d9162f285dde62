import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { KeycardError } from 'keycard';
import { toHttpException } from 'keycard/nest';
import { STATUS_CODES } from 'node:http';
import { errorPage } from '../pages/views/account-pages.js';
import { isPageRequest, pageContextOf } from '../pages/page-context.js';
import { TooManyAttemptsException } from './errors.js';
import { setFlashCookie } from '../pages/flash.js';
import { addHeader, isSecure, requestPath, seeOther, type AnyRequest, type AnyResponse } from './platform-request.js';

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

    if (exception instanceof TooManyAttemptsException) {
      addHeader(response, 'Retry-After', String(exception.retryAfterSeconds));
    }
    if (isPageRequest(request)) {
      if (body.statusCode === 401) {
        const next = request.method === 'GET' ? requestPath(request) : '/';
        addHeader(response, 'Set-Cookie', setFlashCookie('sign-in-required', isSecure(request)));
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
      if (mapped.getStatus() >= 500 && mapped.getStatus() !== 503) this.logger.error(exception, exception.stack);
      return this.toBody(mapped);
    }
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
    this.logger.error(exception, exception instanceof Error ? exception.stack : undefined);
    return { statusCode: 500, error: reason(500), message: 'something went wrong on our side' };
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
