import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { SERVER_CONFIG_ENV, type FromServer, type Platform, type ServerConfig, type ToServer } from './protocol.js';

function send(message: FromServer): void {
  process.send?.(message);
}

export function readConfig(): ServerConfig {
  const raw = process.env[SERVER_CONFIG_ENV];
  if (raw === undefined) throw new Error(`${SERVER_CONFIG_ENV} is not set: variant servers are started by bench/src/run.ts`);
  return JSON.parse(raw) as ServerConfig;
}

/**
 * Nest on the requested platform. Only errors are logged: a log line per
 * request would be measured as session cost. `abortOnError: false` makes a DI
 * error throw (and reach the runner) instead of exiting silently.
 */
export async function createApp(module: object, platform: Platform): Promise<INestApplication> {
  const options = { logger: ['error' as const], abortOnError: false };
  if (platform === 'express') return NestFactory.create(module, options);
  return NestFactory.create<NestFastifyApplication>(module, new FastifyAdapter(), options);
}

/**
 * Listens on a free loopback port, tells the runner which, and answers its
 * CPU readings over IPC (not HTTP, so reading the figure adds no request).
 * `cleanup` closes store clients after the app.
 */
export async function serve(app: INestApplication, cleanup: () => Promise<void> = async () => {}): Promise<void> {
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as { address(): AddressInfo }).address();
  process.on('message', (message: ToServer) => {
    if (message.type === 'cpu') {
      send({ type: 'cpu', ...process.cpuUsage() });
    } else if (message.type === 'stop') {
      void app
        .close()
        .then(cleanup)
        .finally(() => process.exit(0));
    }
  });
  // The runner went away (crash, Ctrl-C): do not linger as an orphan.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', port });
}

/** Entry wrapper for a server file: reports start-up failures to the runner. */
export function runServer(main: (config: ServerConfig) => Promise<void>): void {
  main(readConfig()).catch((error: unknown) => {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    send({ type: 'error', message });
    console.error(message);
    process.exit(1);
  });
}
