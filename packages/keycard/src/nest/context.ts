import { IncomingMessage } from 'node:http';
import type { ArgumentsHost, ExecutionContext } from '@nestjs/common';
import { KeycardError } from '../core/errors.js';
import type { Session } from '../core/session.js';
import type { SocketSession } from '../ws/registry.js';
import { sessionOf, type RequestLike, type ResponseLike } from './platform.js';

/**
 * The one place that knows how Nest's transports lay out an execution
 * context: which transport a context belongs to, and where its request,
 * socket and session are. Guards, decorators and the exception filter ask
 * here; none of them reads `getType()` or argument positions itself.
 */

/**
 * The transports keycard understands. Anything else (a custom transport, a
 * future Nest context type) is `null` here, and every keycard guard refuses it.
 */
export type Transport = 'http' | 'graphql' | 'ws' | 'rpc';

const TRANSPORTS: ReadonlySet<string> = new Set<Transport>(['http', 'graphql', 'ws', 'rpc']);

/** The context's transport, or null for a context type keycard does not understand. */
export function transportOf(context: ArgumentsHost): Transport | null {
  const type = context.getType<string>();
  return TRANSPORTS.has(type) ? (type as Transport) : null;
}

/**
 * The HTTP request of an HTTP context: what `switchToHttp().getRequest()`
 * returns (argument 0), without the three closures `switchToHttp()` attaches
 * to the context on every call. Only for contexts known to be HTTP.
 */
export function requestOf(context: ArgumentsHost): RequestLike {
  return context.getArgByIndex<RequestLike>(0);
}

/** The HTTP response of an HTTP context, as `switchToHttp().getResponse()` returns it. */
export function responseOf(context: ArgumentsHost): ResponseLike {
  return context.getArgByIndex<ResponseLike>(1);
}

/** `Class.method` of the handler a context runs, for messages. */
export function handlerName(context: ExecutionContext): string {
  return `${context.getClass().name}.${context.getHandler().name}`;
}

/**
 * A keycard guard met a call it cannot check (an execution context type it
 * does not understand, a socket keycard did not authenticate), so it refused
 * it: keycard never lets through what it did not check.
 */
export class UnsupportedContextError extends KeycardError {
  constructor(context: ExecutionContext, what: string, advice: string) {
    super('KEYCARD_UNSUPPORTED_CONTEXT', `keycard: ${what}, so it refuses ${handlerName(context)}. ${advice}`);
  }
}

// ——— sockets ———

/**
 * Where a socket's session lives: a symbol on the socket object itself (a
 * `ws` WebSocket, a socket.io Socket), so any code holding the client can
 * read it without a lookup and nothing clashes with an application's fields.
 */
const SOCKET_SESSION = Symbol.for('keycard.socket-session');

interface SocketCarrier {
  [SOCKET_SESSION]?: SocketSession;
}

/** @internal Called by keycard's adapters when a handshake is accepted. */
export function attachSocketSession(socket: object, session: SocketSession): void {
  (socket as SocketCarrier)[SOCKET_SESSION] = session;
}

/** The session a socket was opened with, or undefined when keycard did not authenticate it. */
export function findSocketSession(socket: object): SocketSession | undefined {
  return (socket as SocketCarrier)[SOCKET_SESSION];
}

// ——— GraphQL ———

/** A resolver's arguments: `(root, args, context, info)`. */
const GRAPHQL_CONTEXT_ARG = 2;
const GRAPHQL_INFO_ARG = 3;

function isObject(value: unknown): value is Record<PropertyKey, unknown> {
  return typeof value === 'object' && value !== null;
}

function isRequestLike(value: unknown): value is RequestLike {
  return value instanceof IncomingMessage || (isObject(value) && value['raw'] instanceof IncomingMessage);
}

/**
 * The HTTP request behind a GraphQL operation, in the context shapes of the
 * drivers: `req` (Nest's Apollo driver on Express and Fastify, Nest's
 * Mercurius driver), `reply.request` (Mercurius' own context).
 */
export function graphqlRequestIn(graphqlContext: unknown): RequestLike | undefined {
  if (!isObject(graphqlContext)) return undefined;
  const reply = graphqlContext['reply'];
  for (const candidate of [graphqlContext['req'], graphqlContext['request'], isObject(reply) ? reply['request'] : undefined]) {
    if (isRequestLike(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The socket of a GraphQL subscription, when keycard authenticated it: the
 * graphql-ws context's `extra.socket` (directly, or under `req` where Nest's
 * Apollo driver puts the whole graphql-ws context), or a `socket` keycard's
 * subscription hooks left on the context.
 */
function graphqlSocketIn(graphqlContext: unknown): object | undefined {
  if (!isObject(graphqlContext)) return undefined;
  const candidates: unknown[] = [graphqlContext['socket']];
  for (const holder of [graphqlContext, graphqlContext['req']]) {
    if (isObject(holder) && isObject(holder['extra'])) candidates.push(holder['extra']['socket']);
  }
  return candidates.find((candidate): candidate is object => isObject(candidate) && findSocketSession(candidate) !== undefined);
}

/** What a GraphQL resolver is part of: the operation type, when the resolve info tells. */
export function graphqlOperationOf(context: ArgumentsHost): 'query' | 'mutation' | 'subscription' | undefined {
  const info = context.getArgByIndex<unknown>(GRAPHQL_INFO_ARG);
  const operation = isObject(info) && isObject(info['operation']) ? info['operation']['operation'] : undefined;
  return operation === 'query' || operation === 'mutation' || operation === 'subscription' ? operation : undefined;
}

/** The keycard-authenticated socket of a GraphQL subscription, or undefined. */
export function graphqlSocketOf(context: ArgumentsHost): object | undefined {
  return graphqlSocketIn(context.getArgByIndex<unknown>(GRAPHQL_CONTEXT_ARG));
}

/** The HTTP request of a GraphQL operation over HTTP, or undefined (a subscription over a socket). */
export function graphqlRequestOf(context: ArgumentsHost): RequestLike | undefined {
  return graphqlRequestIn(context.getArgByIndex<unknown>(GRAPHQL_CONTEXT_ARG));
}

/**
 * The HTTP request a call came with: an HTTP context's, or the one behind a
 * GraphQL operation. Throws for calls without one (sockets, RPC), which
 * have no request headers or cookies to read.
 */
export function httpRequestOf(context: ArgumentsHost): RequestLike {
  const transport = transportOf(context);
  if (transport === 'http') return requestOf(context);
  const request = transport === 'graphql' ? graphqlRequestOf(context) : undefined;
  if (request === undefined) throw new ContextSessionNotFoundError(transport ?? (context.getType<string>() as Transport));
  return request;
}

// ——— the caller's session, on every transport ———

/** A context that should carry a session but keycard finds none: a wiring mistake, never a pass. */
export class ContextSessionNotFoundError extends KeycardError {
  constructor(transport: Transport) {
    super(
      'KEYCARD_NOT_LOADED',
      transport === 'graphql'
        ? "keycard: no session in this GraphQL context. Keep the driver's default context (it carries `req`), or return `req` " +
            "from your own context function; serve subscriptions through keycard's graphql-ws hooks."
        : transport === 'ws'
          ? "keycard: this socket has no session. Serve the gateway with keycard's adapter " +
              '(`app.useWebSocketAdapter(new KeycardWsAdapter(app))`, or `KeycardIoAdapter` for socket.io) before `app.listen()`.'
          : `keycard: a ${transport} context carries no session.`,
    );
  }
}

/**
 * The session a call runs under: the request's `Session` (HTTP, and GraphQL
 * over HTTP), or the socket's `SocketSession` (WebSocket and socket.io
 * gateways, GraphQL subscriptions). Throws for RPC and unknown contexts,
 * which carry none, and when keycard never saw the request or socket.
 */
export function callerSessionOf(context: ArgumentsHost): Session | SocketSession {
  const transport = transportOf(context);
  switch (transport) {
    case 'http':
      return sessionOf(requestOf(context));
    case 'graphql': {
      const socket = graphqlSocketIn(context.getArgByIndex<unknown>(GRAPHQL_CONTEXT_ARG));
      if (socket !== undefined) return findSocketSession(socket) as SocketSession;
      const request = graphqlRequestOf(context);
      if (request === undefined) throw new ContextSessionNotFoundError('graphql');
      return sessionOf(request);
    }
    case 'ws': {
      const session = findSocketSession(context.getArgByIndex<object>(0));
      if (session === undefined) throw new ContextSessionNotFoundError('ws');
      return session;
    }
    default:
      throw new ContextSessionNotFoundError(transport ?? (context.getType<string>() as Transport));
  }
}

/** A socket's view has `ended`; a request's `Session` does not. */
export function isSocketSession(session: Session | SocketSession): session is SocketSession {
  return 'ended' in session;
}
