import fastifyFormbody from '@fastify/formbody';
import type { DynamicModule, INestApplication, LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { KeycardWsAdapter, typedJsonMessages } from 'keycard/nest/ws';
import { PasswordHasher } from 'keycard/password';
import type { AppConfig, TrustProxy } from '../config/config.js';
import { addSecurityHeaders } from '../http/security-headers.js';
import { capConnections, DEFAULT_SERVER_LIMITS, LimitedExpressAdapter, nodeServerOptions, type ServerLimits } from '../http/server-limits.js';
import { resolveSecrets } from '../config/secrets.js';
import { openDatabase } from '../database/database.js';
import { migrate } from '../database/migrations.js';
import { openStores } from '../sessions/stores.js';
import { AccountService } from '../auth/account.service.js';
import { AppModule } from './app.module.js';
import { closeAll, type Closable } from './resources.js';

/** SPEC: bad input of any size gets a 4xx; nothing this app accepts comes near 16 KB. */
export const BODY_LIMIT_BYTES = 16 * 1024;

export interface CreatedApp {
  readonly app: INestApplication;
  /** For the start-up banner. */
  readonly storeDescription: string;
  readonly secretWarning: string | undefined;
  /** Set when the ADMIN_EMAIL account was created with a generated password (development). */
  readonly adminWarning: string | undefined;
}

export interface CreateAppOptions {
  readonly logger?: LoggerService | LogLevel[] | false;
  /** The HTTP server's timeouts and connection cap; tests shorten them. Default: DEFAULT_SERVER_LIMITS. */
  readonly serverLimits?: ServerLimits;
  /** PasswordHasher options (tests bound the queue tighter). Default: keycard's defaults. */
  readonly hasher?: ConstructorParameters<typeof PasswordHasher>[0];
}

/**
 * Opens the database (migrated), the session and rate-limit stores, and the
 * Nest application on the configured platform, initialised but not
 * listening. `app.close()` releases everything; if start-up fails half-way,
 * what was opened is closed before the error is rethrown.
 */
export async function createApp(config: AppConfig, options: CreateAppOptions = {}): Promise<CreatedApp> {
  const resources: Closable[] = [];
  try {
    const { secrets, warning } = await resolveSecrets(config);
    const database = await openDatabase(config);
    resources.push({ name: 'database', close: () => database.close() });
    await migrate(database.db);
    const stores = await openStores(config.redis, database);
    resources.push({ name: 'session stores', close: () => stores.close() });
    const hasher = new PasswordHasher(options.hasher);
    resources.push({ name: 'password hasher', close: () => hasher.close() });

    const module = AppModule.forRoot({
      config,
      secrets,
      db: database.db,
      sessionStore: stores.sessions,
      rateLimitStore: stores.rateLimits,
      hasher,
      resources,
    });
    const app = await createNestApp(config, module, options);
    // /ws: the handshake needs the session cookie; messages are {"type": ...} JSON.
    app.useWebSocketAdapter(
      new KeycardWsAdapter(app, {
        messageParser: typedJsonMessages,
        // Upgrades bypass Express/Fastify, so their proxy setting is repeated here (the same hop count or list).
        // Messages: keycard's defaults are the SPEC's (16 KiB, else 1009; 20 per second, else 1008).
        trustProxy: config.trustProxy,
      }),
    );
    await app.init();
    if (config.platform === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
    const admin = await app.get(AccountService).provisionAdmin();
    return { app, storeDescription: stores.description, secretWarning: warning, adminWarning: admin.warning };
  } catch (error) {
    await closeAll(resources, () => undefined);
    throw error;
  }
}

/**
 * The Nest application on the configured platform: body limits, body
 * parsers, the trust-proxy rule, the server's timeouts and connection cap,
 * and the security headers on every response (set before any route or
 * error handler runs, so error pages carry them too).
 */
async function createNestApp(config: AppConfig, module: DynamicModule, options: CreateAppOptions): Promise<INestApplication> {
  // abortOnError false: a wiring mistake throws here (with its message) instead of exiting silently.
  const nestOptions = { logger: options.logger ?? ['error', 'warn'], abortOnError: false } as const;
  const limits = options.serverLimits ?? DEFAULT_SERVER_LIMITS;
  let app: INestApplication;
  if (config.platform === 'fastify') {
    const adapter = new FastifyAdapter({
      bodyLimit: BODY_LIMIT_BYTES,
      trustProxy: fastifyTrustProxy(config.trustProxy),
      // Fastify's own default is 0 (no request timeout at all), and it overrides Node's.
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      http: nodeServerOptions(limits),
    });
    // bodyParser false: Nest would register its own urlencoded parser; @fastify/formbody does it here.
    const fastify = await NestFactory.create<NestFastifyApplication>(module, adapter, { ...nestOptions, bodyParser: false });
    await fastify.register(fastifyFormbody, { bodyLimit: BODY_LIMIT_BYTES });
    fastify.getHttpAdapter().getInstance().addHook('onRequest', (_request, reply, done) => {
      addSecurityHeaders(reply);
      done();
    });
    app = fastify;
  } else {
    const express = await NestFactory.create<NestExpressApplication>(module, new LimitedExpressAdapter(limits), { ...nestOptions, bodyParser: false });
    express.set('trust proxy', config.trustProxy);
    express.disable('x-powered-by');
    // First, before the body parsers: error pages of every kind carry the headers too.
    express.use((_request: unknown, response: { setHeader(name: string, value: string): unknown }, next: () => void) => {
      addSecurityHeaders(response);
      next();
    });
    express.useBodyParser('json', { limit: BODY_LIMIT_BYTES });
    express.useBodyParser('urlencoded', { limit: BODY_LIMIT_BYTES, extended: false });
    app = express;
  }
  capConnections(app.getHttpServer(), limits);
  return app;
}

/** Fastify's types lack the hop count Express takes; as a function it means the same (trust the nearest n hops). */
function fastifyTrustProxy(value: TrustProxy): string[] | ((address: string, hop: number) => boolean) {
  return typeof value === 'number' ? (_address, hop) => hop < value : [...value];
}
