import fastifyFormbody from '@fastify/formbody';
import type { INestApplication, LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { LoginThrottle } from 'keycard';
import { KeycardWsAdapter, typedJsonMessages } from 'keycard/nest/ws';
import { PasswordHasher } from 'keycard/password';
import type { AppConfig, TrustProxy } from '../config/config.js';
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
}

export interface CreateAppOptions {
  readonly logger?: LoggerService | LogLevel[] | false;
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
    const throttle = new LoginThrottle({
      store: stores.rateLimits,
      maxAttempts: config.login.maxAttempts,
      window: config.login.window,
      maxAttemptsPerIp: config.login.ipMaxAttempts,
    });
    const hasher = new PasswordHasher();
    resources.push({ name: 'password hasher', close: () => hasher.close() });

    const module = AppModule.forRoot({
      config,
      secrets,
      db: database.db,
      sessionStore: stores.sessions,
      throttle,
      hasher,
      resources,
    });
    // abortOnError false: a wiring mistake throws here (with its message) instead of exiting silently.
    const nestOptions = { logger: options.logger ?? ['error', 'warn'], abortOnError: false } as const;
    let app: INestApplication;
    if (config.platform === 'fastify') {
      const adapter = new FastifyAdapter({ bodyLimit: BODY_LIMIT_BYTES, trustProxy: fastifyTrustProxy(config.trustProxy) });
      // bodyParser false: Nest would register its own urlencoded parser; @fastify/formbody does it here.
      const fastify = await NestFactory.create<NestFastifyApplication>(module, adapter, { ...nestOptions, bodyParser: false });
      await fastify.register(fastifyFormbody, { bodyLimit: BODY_LIMIT_BYTES });
      app = fastify;
    } else {
      const express = await NestFactory.create<NestExpressApplication>(module, { ...nestOptions, bodyParser: false });
      express.set('trust proxy', config.trustProxy);
      express.disable('x-powered-by');
      express.useBodyParser('json', { limit: BODY_LIMIT_BYTES });
      express.useBodyParser('urlencoded', { limit: BODY_LIMIT_BYTES, extended: false });
      app = express;
    }
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
    await app.get(AccountService).promoteConfiguredAdmin();
    return { app, storeDescription: stores.description, secretWarning: warning };
  } catch (error) {
    await closeAll(resources, () => undefined);
    throw error;
  }
}

/** Fastify's types lack the hop count Express takes; as a function it means the same (trust the nearest n hops). */
function fastifyTrustProxy(value: TrustProxy): boolean | string | ((address: string, hop: number) => boolean) {
  return typeof value === 'number' ? (_address, hop) => hop < value : value;
}
