import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Logger, type INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { WsException, type MessageMappingProperties } from '@nestjs/websockets';
import type { Observable } from 'rxjs';
import type { WebSocket, WebSocketServer } from 'ws';
import { InvalidOptionsError } from '../../core/errors.js';
import type { SessionManager } from '../../core/manager.js';
import { resolveOriginCheck, type OriginCheck } from '../../ws/origin.js';
import { closeReasonOf, type SocketCloseReason, type SocketRegistry } from '../../ws/registry.js';
import { MessageRate, WS_CLOSE_POLICY, compileTrustProxy, resolveSocketLimits, type ResolvedSocketLimits, type SocketLimitOptions, type TrustFn, type TrustProxy } from '../../ws/limits.js';
import { authenticateUpgrade, upgradeInfoOf, type AuthenticatedSession } from '../../ws/upgrade.js';
import type { RoutedMessage, WsFrame } from './messages.js';
import { useWsErrors } from '../errors.js';
import { socketBackendOf } from '../sockets.js';
import { attachSocketSession, findSocketSession } from './socket-session.js';

/**
 * The registry's options (`revalidateInterval`, `closeGrace`, `onError`) are
 * the application's: `SessionModule.forRoot({ sockets })`.
 */
export interface KeycardWsAdapterOptions extends SocketLimitOptions {
  /**
   * Origins allowed to open a socket besides the server's own, exactly as
   * browsers send them (`https://app.example.com`). Default: same origin only.
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * Which proxies to believe about a handshake's client (`X-Forwarded-For`,
   * `-Proto`, `-Host`): give the same value as the HTTP platform's setting
   * (Express `trust proxy`: a hop count, an address/CIDR list, `false`):
   * upgrade requests bypass Express and Fastify, so theirs does not reach
   * here. Compiled with proxy-addr, as Express does. Default false.
   */
  readonly trustProxy?: TrustProxy;
  /** `WsAdapter`'s message parser, e.g. `typedJsonMessages` for `{"type": ...}` messages. Default: Nest's `{event, data}`. */
  readonly messageParser?: (frame: WsFrame) => RoutedMessage | { event: string; data: unknown } | undefined;
}

/** What `@WebSocketGateway({...})` passes to `create`: `ws` server options plus Nest's `path`/`namespace`/`server`. */
export interface GatewayServerOptions {
  readonly path?: string;
  readonly namespace?: string;
  readonly server?: unknown;
  readonly verifyClient?: unknown;
  readonly [option: string]: unknown;
}

type VerifyDone = (verified: boolean, code?: number, message?: string, headers?: OutgoingHttpHeaders) => void;
type VerifyInfo = { origin: string; secure: boolean; req: IncomingMessage };
type AsyncVerify = (info: VerifyInfo, done: VerifyDone) => void;

/** A handshake that passed, kept from `verifyClient` until the socket exists. */
interface Accepted {
  readonly session: AuthenticatedSession;
  readonly headers: readonly (readonly [string, string])[];
}

/** The answer to a handshake that failed unexpectedly (a bug, not an outage): no detail leaves the server. */
const INTERNAL_ERROR = {
  statusCode: 500,
  error: 'Internal Server Error',
  message: 'Internal server error.',
  code: 'KEYCARD_INTERNAL',
} as const;

/**
 * `@nestjs/platform-ws`'s `WsAdapter`, with every gateway behind the session
 * cookie. Gateways on the application's port attach to the Nest HTTP server,
 * Express or Fastify alike.
 *
 * The handshake is decided before the upgrade (ws `verifyClient`), so a
 * refused client gets a real HTTP answer, never an accepted-then-closed
 * socket: 403 for a foreign `Origin` (cross-site WebSocket hijacking), 503
 * when the session store is down, 401 for anything but a live signed-in
 * session. Bodies are JSON like keycard's HTTP errors.
 *
 * An accepted socket carries its session (`socketSession(client)`,
 * `@WsUser()`) and is closed with 4401 when the session is signed out,
 * revoked (on any instance sharing the store) or expires; see
 * `SocketRegistry`. Messages that arrive after that are not handled.
 *
 * ```ts
 * const app = await NestFactory.create(AppModule);
 * app.useWebSocketAdapter(new KeycardWsAdapter(app, { messageParser: typedJsonMessages }));
 * await app.listen(3000);
 * ```
 */
export class KeycardWsAdapter extends WsAdapter {
  /** The application's registry (SessionModule's, shared with every socket transport); `recheck()` after an outage, `size` for metrics. */
  readonly registry: SocketRegistry;
  private readonly keycardLogger = new Logger('keycard');
  private readonly manager: SessionManager;
  private readonly originAllowed: OriginCheck;
  private readonly trust: TrustFn;
  private readonly limits: ResolvedSocketLimits;
  /** Accepted handshakes until their socket exists; weak, so an upgrade abandoned by the client leaves nothing behind. */
  private readonly accepted = new WeakMap<IncomingMessage, Accepted>();

  constructor(app: INestApplicationContext, options: KeycardWsAdapterOptions = {}) {
    super(app, options.messageParser ? { messageParser: options.messageParser } : undefined);
    // Guards refusing a message answer `{"event":"exception","data":{status, statusCode, code, message}}`.
    useWsErrors((body) => new WsException(body));
    // Options are checked here, at bootstrap, not on the first handshake.
    this.trust = compileTrustProxy(options.trustProxy);
    this.limits = resolveSocketLimits(options);
    this.originAllowed = resolveOriginCheck(options.allowedOrigins);
    ({ manager: this.manager, registry: this.registry } = socketBackendOf(app, 'KeycardWsAdapter', options));
  }

  override create(port: number, options: GatewayServerOptions = {}): WebSocketServer {
    if (options.verifyClient !== undefined) {
      // Two checks with two refusal paths would be easy to get wrong; one place decides the handshake.
      throw new InvalidOptionsError(
        'keycard: KeycardWsAdapter decides the handshake itself; drop the gateway\'s verifyClient and check socketSession(client) in handleConnection',
      );
    }
    const verifyClient: AsyncVerify = (info, done) => this.verify(info.req, done);
    // ws closes a socket whose message exceeds maxPayload with 1009 before buffering it (the default is 100 MiB).
    const server = super.create(port, { ...options, verifyClient, maxPayload: this.limits.maxMessageBytes }) as WebSocketServer;
    // Runs just before the 101 is written: a session rotated while loading gets its new cookie on it.
    server.on('headers', (headers: string[], request: IncomingMessage) => {
      const accepted = this.accepted.get(request);
      if (accepted) for (const [name, value] of accepted.headers) headers.push(`${name}: ${value}`);
    });
    // Registered before Nest's own connection listener, so `socketSession` works in `handleConnection`.
    server.on('connection', (socket: WebSocket, request: IncomingMessage) => {
      const accepted = this.accepted.get(request);
      this.accepted.delete(request);
      if (!accepted) {
        // Not through verifyClient (cannot happen with this adapter's servers): never serve it.
        socket.terminate();
        return;
      }
      attachSocketSession(socket, this.registry.track(accepted.session, socket));
      // Why the socket closed when keycard or ws closed it: the close event's code is what the peer sent back,
      // and after an oversized frame ws stops reading, so it is 1006 there, not 1009.
      let closedFor: SocketCloseReason | null = null;
      socket.once('close', (code: number) => this.registry.untrack(socket, closedFor ?? closeReasonOf(code)));
      // An oversized frame is reported here before ws closes with 1009; the socket must not crash the process.
      socket.on('error', (error: Error & { code?: string }) => {
        if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') closedFor ??= 'message-too-big';
      });
      const rate = new MessageRate(this.limits.maxMessagesPerSecond);
      socket.on('message', () => {
        if (rate.admit() || socket.readyState !== socket.OPEN) return;
        closedFor = 'rate-limited';
        socket.close(WS_CLOSE_POLICY, 'message rate exceeded');
      });
    });
    // Subscribe at bootstrap, so the first socket does not wait for it; failures are retried.
    this.registry.start().catch(() => undefined);
    return server;
  }

  /** Drops messages from a socket whose session has ended or that is closing (rate limit): it must not act for anyone. */
  override bindMessageHandlers(
    client: WebSocket,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    const guarded = handlers.map((handler) => ({
      ...handler,
      // A resolved `undefined` is what a handler that answers nothing returns: Nest sends no reply.
      callback: (...args: unknown[]) =>
        findSocketSession(client)?.ended === false && client.readyState === client.OPEN ? handler.callback(...args) : Promise.resolve(undefined),
    }));
    super.bindMessageHandlers(client, guarded, transform);
  }

  /**
   * Socket errors are the client's doing (a frame over `maxMessageBytes`, a
   * malformed frame; ws closes the socket itself): not logged as errors, or
   * any client could fill the logs on demand. Server errors still are.
   */
  override bindErrorHandler(server: WebSocketServer): WebSocketServer {
    server.on('error', (error: Error) => this.keycardLogger.error(`WebSocket server: ${describe(error)}`, error.stack));
    return server;
  }

  private verify(request: IncomingMessage, done: VerifyDone): void {
    authenticateUpgrade(this.manager, upgradeInfoOf(request, { trustProxy: this.trust }), this.originAllowed).then(
      (decision) => {
        if (!decision.ok) return refuse(done, decision.body);
        this.accepted.set(request, { session: decision.session, headers: decision.headers });
        done(true);
      },
      (error: unknown) => {
        this.keycardLogger.error(`WebSocket handshake failed: ${describe(error)}`, error instanceof Error ? error.stack : undefined);
        refuse(done, INTERNAL_ERROR);
      },
    );
  }
}

function refuse(done: VerifyDone, body: { readonly statusCode: number }): void {
  done(false, body.statusCode, JSON.stringify(body), {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
