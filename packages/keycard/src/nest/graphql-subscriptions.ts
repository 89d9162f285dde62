import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { SessionManager } from '../core/manager.js';
import { compileTrustProxy, type TrustFn, type TrustProxy } from '../ws/limits.js';
import { resolveOriginCheck, type OriginCheck } from '../ws/origin.js';
import { SocketRegistry, closeReasonOf, type ClosableSocket } from '../ws/registry.js';
import { authenticateUpgrade, upgradeInfoOf, type UpgradeDecision } from '../ws/upgrade.js';
import { attachSocketSession } from './context.js';

/** How the handshake of a subscription socket is checked. The registry's options are SessionModule's (`sockets`). */
export interface GraphqlSubscriptionOptions {
  /** Origins allowed to open a subscription socket besides the server's own. Default: same origin only. */
  readonly allowedOrigins?: readonly string[];
  /** The HTTP platform's trust-proxy value (hop count, address list), for the upgrade's client facts. Default false. */
  readonly trustProxy?: TrustProxy;
}

/** The parts of a graphql-ws connection context used here (`ctx.extra` of graphql-ws/use/ws). */
interface GraphqlWsContext {
  readonly extra: { readonly socket: ClosableSocket & { once(event: 'close', listener: (code?: number) => void): unknown }; readonly request: IncomingMessage };
}

type VerifyNext = (verified: boolean, code?: number, message?: string, headers?: OutgoingHttpHeaders) => void;
type VerifyClient = (info: { req: IncomingMessage }, next: VerifyNext) => void;
type Accepted = Extract<UpgradeDecision, { ok: true }>;

/** One way of checking handshakes (the options of one `graphqlWs()` / `mercurius()` call). */
interface HandshakeRule {
  readonly originAllowed: OriginCheck;
  readonly trust: TrustFn;
}

/** The ws server behind Nest's Apollo driver, as far as it is used here (ws' `WebSocketServer`). */
interface ApolloSubscriptionServer {
  readonly options: { verifyClient: unknown };
  handleUpgrade(...args: unknown[]): unknown;
}

/**
 * GraphQL subscriptions behind the session cookie, on the same machinery as
 * `/ws`: the handshake is checked once, before the upgrade (same-site
 * Origin, a live signed-in session; 403/401/503 like `KeycardWsAdapter`), the
 * socket carries its session (`@CurrentUser()`, `@Session()`, `@Roles()`
 * work in subscription resolvers) and the application's `SocketRegistry`
 * (SessionModule's, shared with `/ws` and socket.io) closes it with 4401 as
 * soon as the session is signed out, revoked on any instance, or expires.
 *
 * Provided by `SessionModule`; hand its hooks to the driver:
 *
 * ```ts
 * // Apollo (graphql-ws) and Mercurius: a refused upgrade gets its HTTP status (401, 403, 503).
 * GraphQLModule.forRootAsync<ApolloDriverConfig>({
 *   driver: ApolloDriver,
 *   inject: [GraphqlSubscriptionAuth],
 *   useFactory: (auth: GraphqlSubscriptionAuth) => ({ autoSchemaFile: true, subscriptions: { 'graphql-ws': auth.graphqlWs() } }),
 * });
 * useFactory: (auth: GraphqlSubscriptionAuth) => ({ autoSchemaFile: true, subscription: auth.mercurius() }),
 * ```
 *
 * On Apollo the check runs in the `verifyClient` of the ws server that Nest's
 * driver creates (installed once the application has started: the driver
 * offers no option for it). Should that server ever not be reachable (a
 * driver version that keeps it elsewhere), a warning says so at start-up and
 * the same check runs in graphql-ws' `onConnect` instead: the socket is then
 * opened and closed at once with 4403, and still never subscribes.
 */
@Injectable()
export class GraphqlSubscriptionAuth implements OnApplicationBootstrap {
  private readonly logger = new Logger('keycard');
  /** Handshakes accepted before the upgrade, until graphql-ws (onConnect) or Mercurius (context) sees the socket. */
  private readonly accepted = new WeakMap<IncomingMessage, Accepted>();
  /** Set by `graphqlWs()`: Apollo's ws server gets a verifyClient at bootstrap. */
  private apollo: HandshakeRule | null = null;

  constructor(
    private readonly manager: SessionManager,
    private readonly registry: SocketRegistry,
    private readonly moduleRef: ModuleRef,
  ) {}

  /** graphql-ws server options (`subscriptions: { 'graphql-ws': auth.graphqlWs() }` with Nest's Apollo driver). */
  graphqlWs(options: GraphqlSubscriptionOptions = {}): { onConnect(context: { readonly extra: unknown }): Promise<boolean> } {
    const rule = ruleOf(options);
    this.apollo = rule;
    return {
      onConnect: async (context) => {
        // graphql-ws/use/ws puts the socket and the upgrade request in `extra`.
        const { extra } = context as GraphqlWsContext;
        const decision = this.take(extra.request) ?? (await this.decide(extra.request, rule));
        if (!decision.ok) return false;
        this.track(extra.socket, decision);
        return true;
      },
    };
  }

  /** Mercurius `subscription` options: the upgrade is refused with its HTTP status, the context carries the socket. */
  mercurius(options: GraphqlSubscriptionOptions = {}): {
    verifyClient: VerifyClient;
    context(socket: GraphqlWsContext['extra']['socket'], request: { raw: IncomingMessage }): { socket: object };
  } {
    const rule = ruleOf(options);
    return {
      verifyClient: this.verifyClient(rule),
      context: (socket, request) => {
        const decision = this.take(request.raw);
        // Without a decision the socket carries no session, and every keycard guard refuses its operations.
        if (decision !== undefined) this.track(socket, decision);
        return { socket };
      },
    };
  }

  /** Installs the upgrade check on Apollo's subscription server once the driver has created it. */
  async onApplicationBootstrap(): Promise<void> {
    const rule = this.apollo;
    if (rule === null) return;
    const server = await this.apolloSubscriptionServer();
    if (server === null) {
      this.logger.warn(
        "keycard: could not reach the WebSocket server of Nest's Apollo driver; GraphQL subscriptions are checked in graphql-ws' onConnect instead (refused sockets are closed with 4403 after the upgrade)",
      );
      return;
    }
    // An application's own verifyClient is left alone: onConnect still checks every connection.
    if (server.options.verifyClient == null) server.options.verifyClient = this.verifyClient(rule);
  }

  /** ws' asynchronous verifyClient: the refusal is the HTTP answer to the upgrade. */
  private verifyClient(rule: HandshakeRule): VerifyClient {
    return (info, next) => {
      this.decide(info.req, rule).then(
        (decision) => {
          if (!decision.ok) {
            return next(false, decision.body.statusCode, JSON.stringify(decision.body), {
              'Content-Type': 'application/json; charset=utf-8',
              'Cache-Control': 'no-store',
            });
          }
          this.accepted.set(info.req, decision);
          next(true);
        },
        (error: unknown) => {
          this.logger.error(`GraphQL subscription handshake failed: ${String((error as Error)?.message ?? error)}`);
          next(false, 500);
        },
      );
    };
  }

  /**
   * `GraphQLModule` → its driver → `_subscriptionService.wss`: Nest's
   * GqlSubscriptionService creates a ws `WebSocketServer` with `noServer` and
   * calls its `handleUpgrade`, which runs `options.verifyClient`. None of it
   * is public, so each step is checked and anything unexpected gives null.
   */
  private async apolloSubscriptionServer(): Promise<ApolloSubscriptionServer | null> {
    try {
      const { GraphQLModule } = await import('@nestjs/graphql');
      const module: unknown = this.moduleRef.get(GraphQLModule, { strict: false });
      const driver = (module as { graphQlAdapter?: unknown } | null)?.graphQlAdapter;
      const service = (driver as { _subscriptionService?: unknown } | null | undefined)?._subscriptionService;
      const server = (service as { wss?: unknown } | null | undefined)?.wss as Partial<ApolloSubscriptionServer> | null | undefined;
      if (typeof server?.handleUpgrade !== 'function' || typeof server.options !== 'object' || server.options === null) return null;
      return server as ApolloSubscriptionServer;
    } catch {
      return null;
    }
  }

  private take(request: IncomingMessage): Accepted | undefined {
    const decision = this.accepted.get(request);
    this.accepted.delete(request);
    return decision;
  }

  private decide(request: IncomingMessage, rule: HandshakeRule): Promise<UpgradeDecision> {
    return authenticateUpgrade(this.manager, upgradeInfoOf(request, { trustProxy: rule.trust }), rule.originAllowed);
  }

  private track(socket: GraphqlWsContext['extra']['socket'], decision: Accepted): void {
    attachSocketSession(socket, this.registry.track(decision.session, socket));
    socket.once('close', (code?: number) => this.registry.untrack(socket, closeReasonOf(code)));
  }
}

/** Options are checked when the hooks are made, at start-up. */
function ruleOf(options: GraphqlSubscriptionOptions): HandshakeRule {
  return { originAllowed: resolveOriginCheck(options.allowedOrigins), trust: compileTrustProxy(options.trustProxy) };
}
