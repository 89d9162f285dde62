import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeader, ServerResponse } from 'node:http';
import type { RequestLike } from '../binding.js';

// Only the shapes used here, so that no framework types leak into keycard's typings.

interface ExpressRequestShape extends IncomingMessage {
  /** Trust-proxy aware (X-Forwarded-Proto when `trust proxy` trusts the peer). */
  readonly protocol?: string;
  /** Trust-proxy aware (X-Forwarded-Host), with the port. Express 5. */
  readonly host?: string;
  readonly body?: unknown;
  /** Express links each request to its response. */
  readonly res?: ServerResponse;
}

interface FastifyRequestShape {
  readonly raw: IncomingMessage;
  readonly headers: IncomingHttpHeaders;
  readonly method: string;
  /** Trust-proxy aware, like Express's. */
  readonly protocol: string;
  readonly host: string;
  readonly body?: unknown;
}

/** The part of a Fastify reply used here. */
export interface FastifyReplyShape {
  readonly raw: ServerResponse;
  header(name: string, value: string): unknown;
}

/** What the CSRF check reads off a request, the same on both platforms. */
export interface CsrfRequestFacts {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed body (JSON or urlencoded), when there is one. */
  readonly body: unknown;
  /** `http` or `https`, as the platform's trust-proxy setting sees it. */
  readonly protocol: string;
  /** Host with port, from Host or (trusted) X-Forwarded-Host. */
  readonly host: string | undefined;
}

function isFastifyRequest(request: RequestLike): request is FastifyRequestShape & RequestLike {
  return 'raw' in request;
}

/** The request's method alone, as `requestFacts` reads it. */
export function requestMethod(request: RequestLike): string {
  return isFastifyRequest(request) ? request.method : ((request as ExpressRequestShape).method ?? 'GET');
}

export function requestFacts(request: RequestLike): CsrfRequestFacts {
  if (isFastifyRequest(request)) {
    return {
      method: request.method,
      headers: request.headers,
      body: request.body,
      protocol: request.protocol,
      host: request.host,
    };
  }
  const express = request as ExpressRequestShape;
  return {
    method: requestMethod(request),
    headers: express.headers,
    body: express.body,
    // A raw IncomingMessage (no Express on it) can only tell from its socket.
    protocol: express.protocol ?? ((express.socket as { encrypted?: boolean } | null)?.encrypted ? 'https' : 'http'),
    host: typeof express.host === 'string' ? express.host : express.headers.host,
  };
}

/**
 * Where the CSRF module keeps each Fastify reply: on the raw request, so that
 * `CsrfService.tokenFor(request)` can set its cookie from the request alone
 * (a Fastify request has no link to its reply; an Express one has `res`).
 */
const REPLY = Symbol.for('keycard.csrf.reply');

interface ReplyCarrier {
  [REPLY]?: FastifyReplyShape;
}

export function rememberReply(raw: IncomingMessage, reply: FastifyReplyShape): void {
  (raw as ReplyCarrier)[REPLY] = reply;
}

function listOf(header: OutgoingHttpHeader | undefined): string[] {
  if (header === undefined) return [];
  return Array.isArray(header) ? [...header] : [String(header)];
}

/**
 * Adds a Set-Cookie (and `Cache-Control: no-store`: the response carries a
 * per-browser secret) to the request's response, keeping the cookies already
 * on it. False when the response is out of reach or already sent.
 */
export function addCookie(request: RequestLike, setCookie: string): boolean {
  // On Fastify the request may be the Fastify request or its raw IncomingMessage.
  const reply = ((isFastifyRequest(request) ? request.raw : request) as ReplyCarrier)[REPLY];
  if (reply !== undefined) {
    if (reply.raw.headersSent) return false;
    // Fastify appends repeated set-cookie headers instead of replacing them.
    reply.header('set-cookie', setCookie);
    reply.header('cache-control', 'no-store');
    return true;
  }
  const response = isFastifyRequest(request) ? undefined : (request as ExpressRequestShape).res;
  if (response === undefined || response.headersSent) return false;
  response.setHeader('Set-Cookie', [...listOf(response.getHeader('set-cookie')), setCookie]);
  response.setHeader('Cache-Control', 'no-store');
  return true;
}
