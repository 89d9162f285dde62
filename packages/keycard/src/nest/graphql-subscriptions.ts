import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { SessionManager } from '../core/manager.js';
import { compileTrustProxy, type TrustFn, type TrustProxy } from '../ws/limits.js';
import { resolveOriginCheck, type OriginCheck } from '../ws/origin.js';
import { SocketRegistry, type ClosableSocket, type SocketRegistryOptions } from '../ws/registry.js';
import { authenticateUpgrade, upgradeInfoOf, type UpgradeDecision } from '../ws/upgrade.js';
import { attachSocketSession } from './context.js';

export interface GraphqlSubscriptionOptions extends SocketRegistryOptions {
  /** Origins allowed to open a subscription socket besides the server's own. Default: same origin only. */
  readonly allowedOrigins?: readonly string[];
  /** The HTTP platform's trust-proxy value (hop count, address list), for the upgrade's client facts. Default false. */
  readonly trustProxy?: TrustProxy;
}

/** The parts of a graphql-ws connection context used here (`ctx.extra` of graphql-ws/use/ws). */
interface GraphqlWsContext {
  readonly extra: { readonly socket: ClosableSocket & { once(event: 'close', listener: () => void): unknown }; readonly request: IncomingMessage };
}

type VerifyNext = (verified: boolean, code?: number, message?: string, headers?: OutgoingHttpHeaders) => void;

/**
 * GraphQL subscriptions behind the session cookie, on the same machinery as
 * `/ws`: the handshake is checked once (same-site Origin, a live signed-in
 * session; 403/401/503 like `KeycardWsAdapter`), the socket carries its
 * session (`@CurrentUser()`, `@Session()`, `@Roles()` work in subscription
 * resolvers) and a `SocketRegistry` closes it with 4401 as soon as the
 * session is signed out, revoked on any instance, or expires.
 *
 * Provided by `SessionModule`; hand its hooks to the driver:
 *
 * ```ts
 * // Apollo (graphql-ws): a refused connection is closed with 4403 Forbidden.
 * GraphQLModule.forRootAsync<ApolloDriverConfig>({
 *   driver: ApolloDriver,
 *   inject: [GraphqlSubscriptionAuth],
 *   useFactory: (auth: GraphqlSubscriptionAuth) => ({ autoSchemaFile: true, subscriptions: { 'graphql-ws': auth.graphqlWs() } }),
 * });
 * // Mercurius: a refused upgrade gets its HTTP status (401, 403, 503).
 * useFactory: (auth: GraphqlSubscriptionAuth) => ({ autoSchemaFile: true, subscription: auth.mercurius() }),
 * ```
 */
@Injectable()
export class GraphqlSubscriptionAuth implements OnModuleDestroy {
  readonly registry: SocketRegistry<ClosableSocket>;
  private readonly logger = new Logger('keycard');
  private readonly originAllowed: OriginCheck;
  private readonly trust: TrustFn;
  /** Mercurius: handshakes accepted in verifyClient, until its context function sees the socket. */
  private readonly accepted = new WeakMap<IncomingMessage, Extract<UpgradeDecision, { ok: true }>>();

  constructor(
    private readonly manager: SessionManager,
    options: GraphqlSubscriptionOptions = {},
  ) {
    this.originAllowed = resolveOriginCheck(options.allowedOrigins);
    this.trust = compileTrustProxy(options.trustProxy);
    this.registry = new SocketRegistry<ClosableSocket>(manager, {
      revalidateInterval: options.revalidateInterval,
      closeGrace: options.closeGrace,
      onError: options.onError ?? ((error: unknown) => this.logger.warn(`GraphQL subscription watch: ${String((error as Error)?.message ?? error)}`)),
    });
  }

  /** graphql-ws server options (`subscriptions: { 'graphql-ws': auth.graphqlWs() }` with Nest's Apollo driver). */
  graphqlWs(): { onConnect(context: { readonly extra: unknown }): Promise<boolean> } {
    return {
      onConnect: async (context) => {
        // graphql-ws/use/ws puts the socket and the upgrade request in `extra`.
        const { extra } = context as GraphqlWsContext;
        const decision = await this.decide(extra.request);
        if (!decision.ok) return false;
        this.track(extra.socket, decision);
        return true;
      },
    };
  }

  /** Mercurius `subscription` options: the upgrade is refused with its HTTP status, the context carries the socket. */
  mercurius(): {
    verifyClient(info: { req: IncomingMessage }, next: VerifyNext): void;
    context(socket: GraphqlWsContext['extra']['socket'], request: { raw: IncomingMessage }): { socket: object };
  } {
    return {
      verifyClient: (info, next) => {
        this.decide(info.req).then(
          (decision) => {
            if (!decision.ok) return next(false, decision.body.statusCode, JSON.stringify(decision.body), { 'Content-Type': 'application/json; charset=utf-8' });
            this.accepted.set(info.req, decision);
            next(true);
          },
          (error: unknown) => {
            this.logger.error(`GraphQL subscription handshake failed: ${String((error as Error)?.message ?? error)}`);
            next(false, 500);
          },
        );
      },
      context: (socket, request) => {
        const decision = this.accepted.get(request.raw);
        this.accepted.delete(request.raw);
        // Without a decision the socket carries no session, and every keycard guard refuses its operations.
        if (decision !== undefined) this.track(socket, decision);
        return { socket };
      },
    };
  }

  async onModuleDestroy(): Promise<void> {
    await this.registry.close();
  }

  private decide(request: IncomingMessage): Promise<UpgradeDecision> {
    return authenticateUpgrade(this.manager, upgradeInfoOf(request, { trustProxy: this.trust }), this.originAllowed);
  }

  private track(socket: GraphqlWsContext['extra']['socket'], decision: Extract<UpgradeDecision, { ok: true }>): void {
    attachSocketSession(socket, this.registry.track(decision.session, socket));
    socket.once('close', () => this.registry.untrack(socket));
  }
}
