import type { INestApplication } from '@nestjs/common';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type CreateAppOptions } from '../../src/app/create-app.js';
import { loadConfig } from '../../src/config/config.js';

export type Platform = 'express' | 'fastify';
export const PLATFORMS: readonly Platform[] = ['express', 'fastify'];

export const TEST_SECRET = 'test-secret-that-is-long-enough-0123456789';
export const ADMIN_EMAIL = 'admin@example.test';
/** ADMIN_EMAIL's account is provisioned at start-up with this password (SPEC "Administrators"). */
export const ADMIN_PASSWORD = 'the administrator passphrase';
export const LOGIN_MAX_ATTEMPTS = 3;
export const MAX_SESSIONS_PER_USER = 4;

export interface TestApp {
  readonly url: string;
  readonly app: INestApplication;
  readonly dataDir: string;
  close(): Promise<void>;
}

/**
 * The real app, configured by environment as in production, on a fresh
 * PGlite under a temporary DATA_DIR, listening on 127.0.0.1 at a free port.
 * One proxy hop is trusted (the test client plays the proxy) so tests can
 * give each client its own address (X-Forwarded-For) and an HTTPS front
 * (X-Forwarded-Proto). `env` values of '' unset a default.
 */
export async function startTestApp(platform: Platform, env: Record<string, string> = {}, options: CreateAppOptions = {}): Promise<TestApp> {
  const dataDir = await mkdtemp(join(tmpdir(), 'keycard-demo-test-'));
  try {
    const config = loadConfig({
      PLATFORM: platform,
      DATA_DIR: dataDir,
      SESSION_SECRETS: TEST_SECRET,
      LOGIN_MAX_ATTEMPTS: String(LOGIN_MAX_ATTEMPTS),
      ADMIN_EMAIL,
      ADMIN_PASSWORD,
      MAX_SESSIONS_PER_USER: String(MAX_SESSIONS_PER_USER),
      TRUST_PROXY: '1',
      ...env,
    });
    const { app } = await createApp(config, { logger: ['error'], ...options });
    // PORT given: a test that must know the app's URL before it starts (an OIDC redirect URI).
    await app.listen(env['PORT'] ? Number(env['PORT']) : 0, '127.0.0.1');
    const address = app.getHttpServer().address() as { port: number };
    const url = `http://127.0.0.1:${address.port}`;
    return {
      url,
      app,
      dataDir,
      async close() {
        await app.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

let counter = 0;
/** A fresh address per call, so tests never share an account. */
export function uniqueEmail(prefix = 'user'): string {
  counter += 1;
  return `${prefix}${counter}-${process.pid}@example.test`;
}
let ipCounter = 0;
/** A fresh client address per call (TEST-NET-3), so per-IP sign-in limits never leak between tests. */
export function uniqueIp(): string {
  ipCounter += 1;
  return `203.0.113.${(ipCounter % 250) + 1}`;
}
