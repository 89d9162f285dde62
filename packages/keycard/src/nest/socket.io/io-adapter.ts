import { Logger, type INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsException, type MessageMappingProperties } from '@nestjs/websockets';
import type { Observable } from 'rxjs';
import type { Namespace, Server, ServerOptions, Socket } from 'socket.io';
import type { SessionManager } from '../../core/manager.js';
import { MessageRate, WS_CLOSE_POLICY, compileTrustProxy, resolveSocketLimits, type ResolvedSocketLimits, type SocketLimitOptions, type TrustFn, type TrustProxy } from '../../ws/limits.js';
import { resolveOriginCheck, type OriginCheck } from '../../ws/origin.js';
import type { ClosableSocket, SocketCloseReason, SocketRegistry } from '../../ws/registry.js';
import { authenticateUpgrade, upgradeInfoOf } from '../../ws/upgrade.js';
import { attachSocketSession, findSocketSession } from '../context.js';
import { useWsErrors } from '../errors.js';
import { socketBackendOf } from '../sockets.js';

/** The registry's options (`revalidateInterval`, `closeGrace`, `onError`) are the application's: `SessionModule.forRoot({ sockets })`. */
export interface KeycardIoAdapterOptions extends SocketLimitOptions {
  /** Origins allowed to connect besides the server's own, as browsers send them. Default: same origin only. */
  readonly allowedOrigins?: readonly string[];
  /** Which proxies to believe about a handshake's client: the HTTP platform's trust-proxy value (see KeycardWsAdapter). Default false. */
  readonly trustProxy?: TrustProxy;
}

/** What a refused connection's `connect_error` carries: `err.message`, and keycard's body in `err.data`. */
class HandshakeRefused extends Error {
  constructor(readonly data: { readonly statusCode: number; readonly code: string; readonly message: string }) {
    super(data.message);
  }
}

/**
 * `@nestjs/platform-socket.io`'s `IoAdapter`, with every namespace behind the
 * session: the socket.io counterpart of `KeycardWsAdapter`.
 *
 * A connection is authenticated once, in namespace middleware, from the
 * session cookie of the handshake, or from `auth: { token }` (a bearer token
 * from `POST /token`-style sign-in) for clients without cookies. A refused
 * one gets `connect_error` with `err.message` ("Sign in to continue.",
 * "WebSocket connections from this origin are not allowed.", ...) and
 * `err.data` `{ statusCode, code, message }`. A cross-site `Origin` is refused.
 * An accepted socket carries its session (`@CurrentUser()`, `@Session()`,
 * `@Roles()` work in gateway handlers) and is disconnected as soon as its
 * session is signed out, revoked (on any instance: the store's revocation
 * channel, as for `/ws`) or expires.
 *
 * Limits: a message over `maxMessageBytes` (socket.io's `maxHttpBufferSize`)
 * closes the connection; more than `maxMessagesPerSecond` events disconnect
 * the socket, and the extra events are not handled.
 *
 * ```ts
 * app.useWebSocketAdapter(new KeycardIoAdapter(app));
 * ```
 */
export class KeycardIoAdapter extends IoAdapter {
  /** The application's registry (SessionModule's, shared with every socket transport); one entry per socket.io socket. */
  readonly registry: SocketRegistry;
  private readonly keycardLogger = new Logger('keycard');
  private readonly manager: SessionManager;
  private readonly originAllowed: OriginCheck;
  private readonly trust: TrustFn;
  private readonly limits: ResolvedSocketLimits;
  private readonly guarded = new WeakSet<Namespace>();

  constructor(app: INestApplicationContext, options: KeycardIoAdapterOptions = {}) {
    super(app);
    useWsErrors((body) => new WsException(body));
    this.trust = compileTrustProxy(options.trustProxy);
    this.limits = resolveSocketLimits(options);
    this.originAllowed = resolveOriginCheck(options.allowedOrigins);
    ({ manager: this.manager, registry: this.registry } = socketBackendOf(app, 'KeycardIoAdapter', options));
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const server = super.createIOServer(port, { ...options, maxHttpBufferSize: this.limits.maxMessageBytes } as ServerOptions) as Server;
    // Gateways on other namespaces get `server.of(name)` from Nest directly: guard every namespace.
    this.guard(server.of('/'));
    server.on('new_namespace', (namespace: Namespace) => this.guard(namespace));
    this.registry.start().catch(() => undefined);
    return server;
  }

  override bindMessageHandlers(socket: Socket, handlers: MessageMappingProperties[], transform: (data: unknown) => Observable<unknown>): void {
    const guarded = handlers.map((handler) => ({
      ...handler,
      callback: (...args: unknown[]) => (findSocketSession(socket)?.ended === false && socket.connected ? handler.callback(...args) : Promise.resolve(undefined)),
    }));
    super.bindMessageHandlers(socket, guarded, transform);
  }

  private guard(namespace: Namespace): void {
    if (this.guarded.has(namespace)) return;
    this.guarded.add(namespace);
    namespace.use((socket, next) => {
      this.authenticate(socket).then(
        () => next(),
        (error: unknown) => next(error instanceof Error ? error : new Error(String(error))),
      );
    });
  }

  private async authenticate(socket: Socket): Promise<void> {
    const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
    const info = upgradeInfoOf(socket.request, { trustProxy: this.trust });
    let decision;
    try {
      decision = await authenticateUpgrade(
        this.manager,
        { ...info, ...(typeof token === 'string' && token.length > 0 ? { authorization: `Bearer ${token}`, cookieHeader: undefined } : {}) },
        this.originAllowed,
      );
    } catch (error) {
      this.keycardLogger.error(`socket.io handshake failed: ${String((error as Error)?.message ?? error)}`);
      throw new HandshakeRefused({ statusCode: 500, code: 'KEYCARD_INTERNAL', message: 'Internal server error.' });
    }
    if (!decision.ok) throw new HandshakeRefused(decision.body);
    const closable = closableOf(socket);
    attachSocketSession(socket, this.registry.track(decision.session, closable));
    let rateLimited = false;
    socket.once('disconnect', (reason: string, description?: unknown) =>
      this.registry.untrack(closable, rateLimited ? 'rate-limited' : ioCloseReason(reason, description)),
    );
    const rate = new MessageRate(this.limits.maxMessagesPerSecond);
    socket.use((_packet, next) => {
      if (rate.admit()) return next();
      // The extra event is not handled; the client learns why before the disconnect.
      rateLimited = true;
      closable.close(WS_CLOSE_POLICY, 'message rate exceeded');
    });
  }
}

/**
 * The event a socket.io client receives just before keycard disconnects it,
 * with the same code and reason a WebSocket would close with: 4401 "session
 * ended" / "session expired" (sign in again), 1013 "session store
 * unavailable", 1001 "server shutting down", 1008 "message rate exceeded".
 * socket.io has no close codes (the client only sees `io server disconnect`),
 * so without it a client could not tell a sign-out from a rate limit.
 */
export const IO_CLOSE_EVENT = 'keycard:close';

/** What `IO_CLOSE_EVENT` carries. */
export interface IoCloseNotice {
  readonly code: number;
  readonly reason: string;
}

/** The registry's handle on a socket.io socket: close = tell the client why, then disconnect. */
function closableOf(socket: Socket): ClosableSocket {
  return {
    close: (code, reason) => {
      if (!socket.connected) return;
      socket.emit(IO_CLOSE_EVENT, { code, reason } satisfies IoCloseNotice);
      // Engine.IO flushes the notice before it closes the transport.
      socket.disconnect(true);
    },
    terminate: () => socket.conn.close(),
  };
}

/**
 * A socket.io disconnect keycard did not make itself, as a close reason. A
 * message over `maxHttpBufferSize` ends the transport with an error that says
 * so: "Max payload size exceeded" from ws (WebSocket transport), "payload too
 * large" from Engine.IO's polling transport; anything else (the client left,
 * a ping timeout, a dropped network) is 'closed'.
 */
function ioCloseReason(reason: string, description: unknown): SocketCloseReason {
  if (reason !== 'transport error') return 'closed';
  const message = description instanceof Error ? description.message : String(description);
  return /max payload size exceeded|payload too large/i.test(message) ? 'message-too-big' : 'closed';
}
