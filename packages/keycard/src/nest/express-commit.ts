import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ArgumentsHost } from '@nestjs/common';
import { ExceptionsHandler } from '@nestjs/core/exceptions/exceptions-handler.js';
import { findRequestState, type ExpressAdapterShape, type FailedCommit, type RequestState } from './platform.js';

// ——— Express: the commit before the response ———
//
// Express has no hook that runs before the headers are written (Fastify's `onSend`), so keycard
// makes one where Express answers pass (see `installExpressCommitHooks`). A read that wrote
// nothing (most traffic) passes each of them after one check, without a promise.

function isFailed(state: RequestState['commitState']): state is FailedCommit {
  return state !== undefined && !(state instanceof Promise);
}

/**
 * The request's commit: started by the first caller, shared by the others
 * while it runs, undefined when there is nothing to store. After a failure
 * every caller gets the same rejection.
 */
export function sharedCommit(request: IncomingMessage, response: ServerResponse): Promise<void> | undefined {
  const carrier = findRequestState(request);
  if (carrier === undefined) return undefined;
  const state = carrier.commitState;
  if (state instanceof Promise) return state;
  if (state !== undefined) return Promise.reject(state.failed);
  const { committer, session } = carrier;
  if (committer === undefined || session === undefined || !session.needsCommit()) return undefined;
  const commit = committer.store(request, response).then(
    () => {
      // Cleared, so that a change made later (an SSE handler's) is committed in its turn.
      carrier.commitState = undefined;
    },
    (error: unknown) => {
      carrier.commitState = { failed: error, delivered: false };
      throw error;
    },
  );
  carrier.commitState = commit;
  return commit;
}

/** For the hooks: as `sharedCommit`, but a failed commit lets every answer through (the error's own included). */
function commitBeforeSend(request: IncomingMessage, response: ServerResponse): Promise<void> | undefined {
  return isFailed(findRequestState(request)?.commitState) ? undefined : sharedCommit(request, response);
}

const HOLD = Symbol('keycard.hold');

/** An Express response: linked to its request. */
interface LinkedResponse extends ServerResponse {
  readonly req: IncomingMessage;
  [HOLD]?: Held;
}

/** Headers that describe the answer a failed commit replaces (its body, its redirect). */
const REPLACED_HEADERS = ['content-type', 'content-length', 'content-encoding', 'content-disposition', 'etag', 'last-modified', 'location', 'transfer-encoding'];

/** Answers a failed commit with `committer.refusal`; a response already on the wire is aborted instead (never a success). */
function refuse(response: LinkedResponse, error: unknown, raw: RawMethods): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const committer = findRequestState(response.req)?.committer;
  const refusal = committer?.refusal(error) ?? { status: 500, headers: {}, body: { statusCode: 500, message: 'Internal Server Error' } };
  const body = JSON.stringify(refusal.body);
  for (const name of REPLACED_HEADERS) response.removeHeader(name);
  for (const [name, value] of Object.entries(refusal.headers)) response.setHeader(name, value);
  response.statusCode = refusal.status;
  response.setHeader('content-type', 'application/json; charset=utf-8');
  response.setHeader('content-length', Buffer.byteLength(body));
  // The unhooked methods: the hooks hold this response's calls back, keycard's own answer included.
  raw.writeHead.call(response, refusal.status);
  raw.end.call(response, body);
}

// 1. Nest's own answers: awaited by Nest's router, so a failed commit goes on to the exception filters.

type AdapterSend = (this: unknown, response: unknown, ...args: never[]) => unknown;

/**
 * Sends after the commit. Nest's router awaits the result, so a rejection
 * reaches the exception filters; should nothing await it (an application's
 * filter calling `httpAdapter.reply` while a commit runs), keycard answers.
 */
function sendAfter(commit: Promise<void>, response: LinkedResponse, send: () => unknown, raw: RawMethods): Promise<unknown> {
  const sent = commit.then(send);
  sent.catch((error: unknown) =>
    setImmediate(() => {
      const state = findRequestState(response.req)?.commitState;
      if (isFailed(state) && state.delivered) return;
      if (!response.writableEnded) refuse(response, error, raw);
    }),
  );
  return sent;
}

function hookAdapter(adapter: ExpressAdapterShape, raw: RawMethods): void {
  const hook = <Send extends AdapterSend>(send: Send): Send =>
    function (this: unknown, response: unknown, ...args: never[]): unknown {
      const linked = response as LinkedResponse;
      const commit = linked.req === undefined ? undefined : commitBeforeSend(linked.req, linked);
      if (commit === undefined) return send.call(this, response, ...args);
      return sendAfter(commit, linked, () => send.call(this, response, ...args), raw);
    } as Send;
  adapter.reply = hook(adapter.reply);
  adapter.redirect = hook(adapter.redirect);
  adapter.render = hook(adapter.render);
}

// 2. Nest's exception layer: the commit runs before any filter answers, and a failed one replaces the exception.

let exceptionLayerHooked = false;

function hookExceptionLayer(): void {
  if (exceptionLayerHooked) return;
  exceptionLayerHooked = true;
  const prototype = ExceptionsHandler.prototype;
  const next = prototype.next;
  prototype.next = function (this: ExceptionsHandler, exception: Error, host: ArgumentsHost): void {
    const request = host.getType() === 'http' ? host.getArgByIndex<IncomingMessage | undefined>(0) : undefined;
    const state = request && findRequestState(request)?.commitState;
    if (isFailed(state) && state.failed === exception) state.delivered = true;
    const commit = request === undefined ? undefined : commitBeforeSend(request, host.getArgByIndex<ServerResponse>(1));
    if (commit === undefined) return next.call(this, exception, host);
    commit
      .then(
        () => next.call(this, exception, host),
        (error: unknown) => {
          const failed = findRequestState(request as IncomingMessage)?.commitState;
          if (isFailed(failed)) failed.delivered = true;
          next.call(this, error as Error, host);
        },
      )
      // What a filter throws goes where Nest's router sends it: to Express.
      .catch((error: unknown) => host.getArgByIndex<((error: unknown) => void) | undefined>(2)?.(error));
  };
}

// 3. The response itself: what nobody awaits (`@Res()` without passthrough, SSE, `res.write`
// streaming, a filter writing to `res`) waits for the commit before its first byte.

/** The calls a response holds while its session's commit runs. */
interface Held {
  readonly calls: Array<() => void>;
  refused: boolean;
  /** A write was told to wait (returned false): 'drain' follows the release. */
  owesDrain: boolean;
}

function release(response: LinkedResponse, held: Held): void {
  response[HOLD] = undefined;
  try {
    for (const call of held.calls) call();
  } catch {
    // e.g. a header value Node refuses: nothing can answer any more.
    response.destroy();
    return;
  }
  if (held.owesDrain && !response.writableNeedDrain) response.emit('drain');
}

function heldFor(response: LinkedResponse, raw: RawMethods): Held | undefined {
  const current = response[HOLD];
  if (current !== undefined) return current;
  const request = response.req as IncomingMessage | undefined;
  const commit = request === undefined ? undefined : commitBeforeSend(request, response);
  if (commit === undefined) return undefined;
  const held: Held = { calls: [], refused: false, owesDrain: false };
  response[HOLD] = held;
  commit.then(
    () => release(response, held),
    (error: unknown) => {
      held.refused = true;
      held.calls.length = 0;
      refuse(response, error, raw);
    },
  );
  return held;
}

type RawCall = (this: ServerResponse, ...args: unknown[]) => unknown;

/** The response methods the hooks hold back; also what keycard answers with, unhooked. */
interface RawMethods {
  end: RawCall;
  write: RawCall;
  writeHead: RawCall;
  flushHeaders: RawCall;
}

function holdResponses(prototype: RawMethods, raw: RawMethods): void {
  const { end, write, writeHead, flushHeaders } = raw;
  const hold = (call: RawCall, waiting: (response: ServerResponse) => unknown): RawCall =>
    function (this: ServerResponse, ...args: unknown[]): unknown {
      const held = heldFor(this as LinkedResponse, raw);
      if (held === undefined) return call.apply(this, args);
      if (!held.refused) held.calls.push(() => call.apply(this, args));
      return waiting(this);
    };
  prototype.end = hold(end, (response) => response);
  prototype.writeHead = hold(writeHead, (response) => response);
  prototype.flushHeaders = hold(flushHeaders, () => undefined);
  prototype.write = function (this: ServerResponse, ...args: unknown[]): unknown {
    const held = heldFor(this as LinkedResponse, raw);
    if (held === undefined) return write.apply(this, args);
    if (!held.refused) held.calls.push(() => write.apply(this, args));
    held.owesDrain = true;
    return false;
  };
}

/**
 * Installs the Express commit hooks for one application, where every
 * Express answer passes:
 * 1. the adapter's `reply`, `redirect` and `render`, through which Nest's
 *    router sends returned values, `StreamableFile`s and streamed bodies,
 *    `@Redirect()` and `@Render()`: the commit runs first, and Nest awaits
 *    it, so a failure reaches the application's exception filters;
 * 2. Nest's exception layer (once per process): before a filter answers,
 *    the commit runs (a handler that signs out and then throws still clears
 *    the cookie); a failed commit replaces the exception;
 * 3. the application's responses (`end`, `write`, `writeHead`,
 *    `flushHeaders`): whatever else sends (`@Res()` without passthrough,
 *    SSE, `res.write` streaming) waits for the commit before its first
 *    byte; when it fails, keycard answers 503 itself, or aborts a response
 *    whose headers are out, and never lets a success through.
 */
export function installExpressCommitHooks(adapter: ExpressAdapterShape): void {
  const prototype = adapter.getInstance().response as RawMethods;
  const raw: RawMethods = { end: prototype.end, write: prototype.write, writeHead: prototype.writeHead, flushHeaders: prototype.flushHeaders };
  hookAdapter(adapter, raw);
  hookExceptionLayer();
  holdResponses(prototype, raw);
}
