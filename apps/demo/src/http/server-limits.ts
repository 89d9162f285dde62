import { createServer, type Server, type ServerOptions } from 'node:http';
import { ExpressAdapter } from '@nestjs/platform-express';

/**
 * Limits of the HTTP server, the same on both platforms (SPEC "Headers and
 * operations"). A client that opens connections and then sends its request
 * slowly (slowloris, or a body that never finishes) holds a socket and
 * memory each; these bound how long and how many.
 */
export interface ServerLimits {
  /** Milliseconds to receive the whole request, body included; then 408 and the connection is closed. */
  readonly requestTimeoutMs: number;
  /** Milliseconds to receive the request line and headers (at most `requestTimeoutMs`). */
  readonly headersTimeoutMs: number;
  /** Milliseconds an idle keep-alive connection stays open. */
  readonly keepAliveTimeoutMs: number;
  /** Connections open at once; past it new ones are closed at accept. */
  readonly maxConnections: number;
}

/** SPEC: requests whose body has not arrived within 30 s are answered 408 and closed. */
export const DEFAULT_SERVER_LIMITS: ServerLimits = Object.freeze({
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1_000,
});

/**
 * Node checks the two request timeouts on a timer (default every 30 s, which
 * would let a 30 s timeout fire as late as 60 s); check often enough that
 * they fire within about a second of their time.
 */
function checkingInterval(limits: ServerLimits): number {
  return Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4)));
}

/** What `http.createServer` takes for these limits. */
export function nodeServerOptions(limits: ServerLimits): ServerOptions {
  return {
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: checkingInterval(limits),
  };
}

/** The connection cap, once the server exists (the same property on both platforms' Node server). */
export function capConnections(server: Server, limits: ServerLimits): void {
  server.maxConnections = limits.maxConnections;
}

/**
 * Nest's Express adapter creates its server with `http.createServer(app)`,
 * which leaves Node's defaults (a 300 s request timeout, checked every 30 s);
 * this one passes the limits to the constructor, the only place
 * `connectionsCheckingInterval` can be set.
 */
export class LimitedExpressAdapter extends ExpressAdapter {
  constructor(private readonly limits: ServerLimits) {
    super();
  }

  override initHttpServer(options: { httpsOptions?: unknown; forceCloseConnections?: boolean; return503OnClosing?: boolean }): void {
    if (options?.httpsOptions || options?.forceCloseConnections || options?.return503OnClosing) {
      throw new Error('LimitedExpressAdapter: httpsOptions, forceCloseConnections and return503OnClosing are not supported');
    }
    this.setHttpServer(createServer(nodeServerOptions(this.limits), this.getInstance()));
  }
}
