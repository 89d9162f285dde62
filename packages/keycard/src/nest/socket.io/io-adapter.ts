import { Logger, type INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsException, type MessageMappingProperties } from '@nestjs/websockets';
import type { Observable } from 'rxjs';
import type { Namespace, Server, ServerOptions, Socket } from 'socket.io';
import { InvalidOptionsError } from '../../core/errors.js';
import { SessionManager } from '../../core/manager.js';
import { MessageRate, compileTrustProxy, resolveSocketLimits, type ResolvedSocketLimits, type SocketLimitOptions, type TrustFn, type TrustProxy } from '../../ws/limits.js';
import { resolveOriginCheck, type OriginCheck } from '../../ws/origin.js';
import { SocketRegistry, type ClosableSocket, type SocketRegistryOptions } from '../../ws/registry.js';
import { authenticateUpgrade, upgradeInfoOf } from '../../ws/upgrade.js';
import { attachSocketSession, findSocketSession } from '../context.js';
import { useWsErrors } from '../errors.js';

export interface KeycardIoAdapterOptions extends SocketRegistryOptions, SocketLimitOptions {
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
  /** The sockets being watched (one entry per socket.io socket). */
  readonly registry: SocketRegistry<ClosableSocket>;
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
    try {
      this.manager = app.get(SessionManager, { strict: false });
    } catch {
      throw new InvalidOptionsError('keycard: KeycardIoAdapter needs SessionModule.forRoot() (or forRootAsync) in the application module');
    }
    this.registry = new SocketRegistry<ClosableSocket>(this.manager, {
      revalidateInterval: options.revalidateInterval,
      closeGrace: options.closeGrace,
      onError: options.onError ?? ((error: unknown) => this.keycardLogger.warn(`socket.io session watch: ${String((error as Error)?.message ?? error)}`)),
    });
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

  override async dispose(): Promise<void> {
    await this.registry.close();
    await super.dispose();
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
    // One closable per socket: the registry closes it when the session ends.
    const closable: ClosableSocket = { close: () => socket.disconnect(true), terminate: () => socket.conn.close() };
    attachSocketSession(socket, this.registry.track(decision.session, closable));
    socket.once('disconnect', () => this.registry.untrack(closable));
    const rate = new MessageRate(this.limits.maxMessagesPerSecond);
    socket.use((_packet, next) => {
      if (rate.admit()) return next();
      socket.disconnect(true);
    });
  }
}
