import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Platform, ServerConfig, StoreKind } from './servers/protocol.js';

export interface Variant {
  /** CLI name, for `--only`. */
  readonly name: string;
  /** The number the issue gives it. */
  readonly label: string;
  readonly title: string;
  readonly platform: Platform;
  /** A ceiling (no session): the variants of its platform are divided by it. */
  readonly ceiling: boolean;
  readonly keycard: boolean;
  /** The file under `servers/` that serves it. */
  readonly server: string;
  readonly store: StoreKind;
  readonly config?: Pick<ServerConfig, 'passport' | 'rolling' | 'driver' | 'sealed' | 'cache'>;
  /** Modules that must be built for it to run (the keycard pieces land separately). */
  readonly needs?: readonly string[];
  /**
   * Distinct signed-in sessions the load reads round-robin (default 1: one hot
   * session). Most real traffic is many sessions, which is where a cache's
   * size and a store's per-key cost show.
   */
  readonly sessions?: number;
  /** How the runner signs in and what it reads: the bench's `POST /login` + `GET /me` (default), or the reference app's API. */
  readonly app?: 'bench' | 'demo';
}

export const VARIANTS: readonly Variant[] = [
  { name: 'express', label: '1', title: 'Nest + Express, no session (ceiling)', platform: 'express', ceiling: true, keycard: false, server: 'ceiling.js', store: 'none' },
  { name: 'fastify', label: '2', title: 'Nest + Fastify, no session (ceiling)', platform: 'fastify', ceiling: true, keycard: false, server: 'ceiling.js', store: 'none' },
  { name: 'express-session', label: '3', title: 'express-session + connect-redis', platform: 'express', ceiling: false, keycard: false, server: 'express-session.js', store: 'redis' },
  { name: 'express-passport', label: '4', title: 'express-session + connect-redis + passport.session()', platform: 'express', ceiling: false, keycard: false, server: 'express-session.js', store: 'redis', config: { passport: true } },
  { name: 'fastify-session', label: '5', title: '@fastify/session + connect-redis, defaults', platform: 'fastify', ceiling: false, keycard: false, server: 'fastify-session.js', store: 'redis' },
  { name: 'fastify-session-norolling', label: '5b', title: '@fastify/session + connect-redis, rolling: false', platform: 'fastify', ceiling: false, keycard: false, server: 'fastify-session.js', store: 'redis', config: { rolling: false } },
  { name: 'fastify-session-norolling-1k', label: '5c', title: '@fastify/session + connect-redis, rolling: false, 1 000 sessions round-robin', platform: 'fastify', ceiling: false, keycard: false, server: 'fastify-session.js', store: 'redis', config: { rolling: false }, sessions: 1000 },
  { name: 'keycard-express-redis', label: '6', title: 'keycard on Express + Redis', platform: 'express', ceiling: false, keycard: true, server: 'keycard.js', store: 'redis', needs: ['keycard/nest', 'keycard/redis'] },
  { name: 'keycard-fastify-redis', label: '7', title: 'keycard on Fastify + Redis', platform: 'fastify', ceiling: false, keycard: true, server: 'keycard.js', store: 'redis', needs: ['keycard/nest', 'keycard/redis'] },
  { name: 'keycard-fastify-redis-1k', label: '7b', title: 'keycard on Fastify + Redis, 1 000 sessions round-robin', platform: 'fastify', ceiling: false, keycard: true, server: 'keycard.js', store: 'redis', sessions: 1000, needs: ['keycard/nest', 'keycard/redis'] },
  { name: 'keycard-fastify-redis-nocache', label: '7c', title: 'keycard on Fastify + Redis, session cache off (one round trip per read)', platform: 'fastify', ceiling: false, keycard: true, server: 'keycard.js', store: 'redis', config: { cache: false }, needs: ['keycard/nest', 'keycard/redis'] },
  { name: 'keycard-fastify-memory', label: '8', title: 'keycard on Fastify + memory store', platform: 'fastify', ceiling: false, keycard: true, server: 'keycard.js', store: 'memory', needs: ['keycard/nest'] },
  { name: 'keycard-fastify-pglite', label: '9', title: 'keycard on Fastify + PGlite (in-process)', platform: 'fastify', ceiling: false, keycard: true, server: 'keycard.js', store: 'pglite', needs: ['keycard/nest', 'keycard/postgres'] },
  { name: 'keycard-fastify-postgres', label: '9b', title: 'keycard on Fastify + PostgreSQL (pg)', platform: 'fastify', ceiling: false, keycard: true, server: 'keycard.js', store: 'postgres', needs: ['keycard/nest', 'keycard/postgres'] },
  { name: 'keycard-fastify-postgres-js', label: '9c', title: 'keycard on Fastify + PostgreSQL (the postgres driver)', platform: 'fastify', ceiling: false, keycard: true, server: 'keycard.js', store: 'postgres', config: { driver: 'postgres' }, needs: ['keycard/nest', 'keycard/postgres', 'postgres'] },
  { name: 'demo-pglite', label: '10', title: 'the reference app as `npm start` runs it (Express, embedded PGlite), GET /api/auth/me', platform: 'express', ceiling: false, keycard: true, server: 'demo.js', store: 'pglite', app: 'demo' },
  { name: 'demo-pglite-fastify', label: '10b', title: 'the reference app on Fastify (PLATFORM=fastify, embedded PGlite), GET /api/auth/me', platform: 'fastify', ceiling: false, keycard: true, server: 'demo.js', store: 'pglite', app: 'demo' },
  { name: 'fastify-secure-session', label: '11', title: '@fastify/secure-session (the whole session sealed in the cookie, no store)', platform: 'fastify', ceiling: false, keycard: false, server: 'fastify-secure-session.js', store: 'none' },
  { name: 'keycard-fastify-sealed', label: '12', title: 'keycard on Fastify, sealed-cookie sessions (no store)', platform: 'fastify', ceiling: false, keycard: true, server: 'keycard.js', store: 'none', config: { sealed: 'cookie' }, needs: ['keycard/nest'] },
  { name: 'keycard-fastify-sealed-redis', label: '12b', title: 'keycard on Fastify, sealed-cookie sessions + Redis revocation store', platform: 'fastify', ceiling: false, keycard: true, server: 'keycard.js', store: 'redis', config: { sealed: 'redis-revocation' }, needs: ['keycard/nest', 'keycard/redis'] },
];

export function ceilingOf(variant: Variant): Variant {
  const ceiling = VARIANTS.find((candidate) => candidate.ceiling && candidate.platform === variant.platform);
  if (ceiling === undefined) throw new Error(`no ceiling for platform ${variant.platform}`);
  return ceiling;
}

/** Why a variant cannot run in this checkout, or undefined when it can. */
export function missingPieces(variant: Variant): string | undefined {
  const missing: string[] = [];
  if (!existsSync(fileURLToPath(new URL(`./servers/${variant.server}`, import.meta.url)))) {
    missing.push(`servers/${variant.server}`);
  }
  for (const specifier of variant.needs ?? []) {
    if (!resolves(specifier)) missing.push(specifier);
  }
  return missing.length === 0 ? undefined : `not built yet: ${missing.join(', ')}`;
}

function resolves(specifier: string): boolean {
  try {
    return existsSync(fileURLToPath(import.meta.resolve(specifier)));
  } catch {
    return false;
  }
}

/**
 * The variants `--only` names, with each one's ceiling added (every figure is
 * relative to it), in catalogue order.
 */
export function selectVariants(only: readonly string[] | undefined): Variant[] {
  if (only === undefined || only.length === 0) return [...VARIANTS];
  const unknown = only.filter((name) => !VARIANTS.some((variant) => variant.name === name));
  if (unknown.length > 0) {
    throw new Error(`unknown variant ${unknown.join(', ')}; known: ${VARIANTS.map((v) => v.name).join(', ')}`);
  }
  const wanted = new Set(only);
  for (const variant of VARIANTS) if (wanted.has(variant.name)) wanted.add(ceilingOf(variant).name);
  return VARIANTS.filter((variant) => wanted.has(variant.name));
}
