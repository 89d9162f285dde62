import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { checkPassword } from 'keycard/password';
import { z } from 'zod';

/** Where Redis is, when sessions live there. */
export type RedisTarget =
  | { readonly kind: 'standalone'; readonly url: string }
  | { readonly kind: 'cluster'; readonly nodes: readonly { readonly host: string; readonly port: number }[] }
  | { readonly kind: 'sentinel'; readonly sentinels: readonly { readonly host: string; readonly port: number }[]; readonly name: string };

/**
 * Which proxies to believe in `X-Forwarded-*`: none (0), the nearest `n`
 * hops, or the listed addresses/CIDRs (and proxy-addr's names `loopback`,
 * `linklocal`, `uniquelocal`). Never "all" (`true`): that would take the
 * left-most `X-Forwarded-For`, which the client writes itself.
 */
export type TrustProxy = number | readonly string[];

/**
 * Everything the app reads from the environment, parsed and validated once at
 * start-up. Durations are seconds, as in the environment.
 */
export interface AppConfig {
  readonly production: boolean;
  readonly port: number;
  /** Interface to listen on; not in the SPEC table, an escape hatch for containers and tests. */
  readonly host: string;
  readonly platform: 'express' | 'fastify';
  /** Absolute path: the embedded database and the generated secret. */
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  readonly redis: RedisTarget | undefined;
  /** From SESSION_SECRETS; undefined means "generate one under dataDir" (development only). */
  readonly sessionSecrets: readonly string[] | undefined;
  readonly idleTimeout: number | undefined;
  readonly absoluteTimeout: number | undefined;
  readonly maxSessionsPerUser: number;
  /** Registrations per client IP within `login.window`. */
  readonly registerMaxPerIp: number;
  readonly login: {
    readonly maxAttempts: number;
    /** Seconds. */
    readonly window: number;
    /** Failures from one client IP across accounts within `window`: the looser limit. */
    readonly ipMaxAttempts: number;
  };
  readonly trustProxy: TrustProxy;
  readonly cookieSecure: 'auto' | boolean;
  /** METRICS=1: GET /metrics answers keycard's Prometheus metrics. */
  readonly metrics: boolean;
  /** Lower-cased; provisioned with role admin at start-up. Undefined: nobody is admin until an operator promotes someone. */
  readonly adminEmail: string | undefined;
  /** The password the ADMIN_EMAIL account is created with when it does not exist yet. */
  readonly adminPassword: string | undefined;
  /** "Sign in with …": OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET, all three or none. */
  readonly oidc: OidcConfig | undefined;
}

export interface OidcConfig {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** OIDC_REDIRECT_URI, default `http://localhost:<PORT>/auth/oidc/callback`: registered with the provider exactly. */
  readonly redirectUri: string;
  /** What the button says after "Sign in with": the issuer's host. */
  readonly label: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const MIN_SECRET_LENGTH = 32;
const DEFAULT_LOGIN_MAX_ATTEMPTS = 5;
const DEFAULT_LOGIN_WINDOW = 900;
/** SPEC: the per-IP limit is looser, ten times the per-account one. */
const IP_LIMIT_FACTOR = 10;
/** SPEC defaults. */
const DEFAULT_MAX_SESSIONS_PER_USER = 50;
const DEFAULT_REGISTER_MAX_PER_IP = 20;
/** proxy-addr's named ranges, which Express and Fastify both accept in a trust list. */
const TRUST_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** A trusted-proxy entry: an IP, an IP/prefix, or one of proxy-addr's names. */
function isTrustEntry(entry: string): boolean {
  if (TRUST_NAMES.has(entry)) return true;
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

const unset = (value: string | undefined) => value === undefined || value.trim() === '';

/** An env var holding a whole number within [min, max]. */
const integer = (name: string, min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `${name} must be between ${min} and ${max}`);

const seconds = (name: string) => integer(name, 1, 400 * 24 * 3600);

const hostPort = (name: string) =>
  z
    .string()
    .trim()
    .regex(/^[^\s:]+:\d{1,5}$/, `${name} entries must look like host:port`)
    .transform((entry) => {
      const at = entry.lastIndexOf(':');
      return { host: entry.slice(0, at), port: Number(entry.slice(at + 1)) };
    })
    .refine((node) => node.port >= 1 && node.port <= 65535, `${name} ports must be 1-65535`);

/** A comma-separated host:port list. */
const hostPorts = (name: string) =>
  z
    .string()
    .transform((list) => list.split(',').filter((entry) => entry.trim() !== ''))
    .pipe(z.array(hostPort(name)).min(1, `${name} must list at least one host:port`));

const schema = z.object({
  NODE_ENV: z.string().optional(),
  PORT: integer('PORT', 0, 65535).optional(),
  HOST: z.string().trim().min(1).optional(),
  PLATFORM: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['express', 'fastify'], { error: 'PLATFORM must be "express" or "fastify"' }))
    .optional(),
  DATA_DIR: z.string().trim().min(1).optional(),
  DATABASE_URL: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// or postgresql:// URL')
    .optional(),
  REDIS_URL: z
    .string()
    .trim()
    .regex(/^rediss?:\/\//, 'REDIS_URL must be a redis:// or rediss:// URL')
    .optional(),
  REDIS_CLUSTER_NODES: hostPorts('REDIS_CLUSTER_NODES').optional(),
  REDIS_SENTINELS: hostPorts('REDIS_SENTINELS').optional(),
  REDIS_SENTINEL_NAME: z.string().trim().regex(/^[\w.-]{1,64}$/, 'REDIS_SENTINEL_NAME must be a master name (letters, digits, ._-)').optional(),
  OIDC_ISSUER: z.url({ error: 'OIDC_ISSUER must be the provider\'s issuer URL' }).optional(),
  OIDC_CLIENT_ID: z.string().trim().min(1).optional(),
  OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  OIDC_REDIRECT_URI: z.url({ error: 'OIDC_REDIRECT_URI must be an absolute URL' }).optional(),
  METRICS: z.enum(['0', '1'], { error: 'METRICS must be 1 (serve GET /metrics) or 0' }).optional(),
  SESSION_SECRETS: z
    .string()
    .transform((list) => list.split(',').map((secret) => secret.trim()).filter((secret) => secret !== ''))
    .pipe(
      z
        .array(
          z
            .string()
            .min(
              MIN_SECRET_LENGTH,
              `every SESSION_SECRETS entry needs at least ${MIN_SECRET_LENGTH} characters (try: openssl rand -base64 32)`,
            ),
        )
        .min(1, 'SESSION_SECRETS is set but empty'),
    )
    .optional(),
  SESSION_IDLE_TIMEOUT: seconds('SESSION_IDLE_TIMEOUT').optional(),
  SESSION_ABSOLUTE_TIMEOUT: seconds('SESSION_ABSOLUTE_TIMEOUT').optional(),
  MAX_SESSIONS_PER_USER: integer('MAX_SESSIONS_PER_USER', 1, 10_000).optional(),
  LOGIN_MAX_ATTEMPTS: integer('LOGIN_MAX_ATTEMPTS', 1, 10_000).optional(),
  LOGIN_WINDOW: seconds('LOGIN_WINDOW').optional(),
  TRUST_PROXY: z
    .string()
    .trim()
    .superRefine((value, ctx) => {
      if (value.toLowerCase() === 'true') {
        ctx.addIssue({
          code: 'custom',
          message:
            'TRUST_PROXY=true is refused: it would trust whatever a client writes in X-Forwarded-For; ' +
            'give the number of proxies in front of the app (e.g. 1) or their addresses (e.g. 10.0.0.0/8,127.0.0.1)',
        });
        return;
      }
      if (value === 'false' || /^\d{1,2}$/.test(value)) return;
      const bad = value.split(',').map((entry) => entry.trim()).filter((entry) => !isTrustEntry(entry));
      if (bad.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `TRUST_PROXY must be a number of hops or a comma-separated list of proxy addresses/CIDRs; not an address: ${bad.map((entry) => JSON.stringify(entry.slice(0, 60))).join(', ')}`,
        });
      }
    })
    .transform((value): TrustProxy => {
      if (value === 'false') return 0;
      if (/^\d+$/.test(value)) return Number(value);
      return value.split(',').map((entry) => entry.trim());
    })
    .optional(),
  COOKIE_SECURE: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['auto', 'true', 'false'], { error: 'COOKIE_SECURE must be auto, true or false' }))
    .optional(),
  ADMIN_EMAIL: z.email({ error: 'ADMIN_EMAIL must be an email address' }).optional(),
  ADMIN_PASSWORD: z
    .string()
    .superRefine((value, ctx) => {
      const check = checkPassword(value);
      if (!check.ok) ctx.addIssue({ code: 'custom', message: check.message.replace(/^password/, 'ADMIN_PASSWORD') });
    })
    .optional(),
  REGISTER_MAX_PER_IP: integer('REGISTER_MAX_PER_IP', 1, 1_000_000).optional(),
});

/**
 * Reads the environment once. Empty variables count as unset (so `PORT=` in a
 * .env file means "the default"). Every problem is reported at once, each
 * naming its variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv, cwd = process.cwd()): AppConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => !unset(value)));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => issue.message));
  }
  const e = parsed.data;
  const problems: string[] = [];
  const production = e.NODE_ENV === 'production';
  if (production && !e.SESSION_SECRETS) {
    problems.push(
      'SESSION_SECRETS is required when NODE_ENV=production: set one or more comma-separated random strings ' +
        `of ${MIN_SECRET_LENGTH}+ characters (the first signs, all verify), e.g. $(openssl rand -base64 32)`,
    );
  }
  if ([e.REDIS_URL, e.REDIS_CLUSTER_NODES, e.REDIS_SENTINELS].filter(Boolean).length > 1) {
    problems.push('set one of REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS, not several');
  }
  if (e.REDIS_SENTINELS && !e.REDIS_SENTINEL_NAME) problems.push('REDIS_SENTINELS needs REDIS_SENTINEL_NAME (the monitored master\'s name)');
  if (e.REDIS_SENTINEL_NAME && !e.REDIS_SENTINELS) problems.push('REDIS_SENTINEL_NAME is set without REDIS_SENTINELS');
  if (e.SESSION_IDLE_TIMEOUT && e.SESSION_ABSOLUTE_TIMEOUT && e.SESSION_IDLE_TIMEOUT > e.SESSION_ABSOLUTE_TIMEOUT) {
    problems.push('SESSION_IDLE_TIMEOUT must not be longer than SESSION_ABSOLUTE_TIMEOUT');
  }
  if (e.ADMIN_PASSWORD && !e.ADMIN_EMAIL) problems.push('ADMIN_PASSWORD is set without ADMIN_EMAIL (the account it is for)');
  const oidcSet = [e.OIDC_ISSUER, e.OIDC_CLIENT_ID, e.OIDC_CLIENT_SECRET].filter((value) => value !== undefined).length;
  if (oidcSet !== 0 && oidcSet !== 3) problems.push('OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET go together: set all three, or none');
  if (problems.length > 0) throw new ConfigError(problems);

  const maxAttempts = e.LOGIN_MAX_ATTEMPTS ?? DEFAULT_LOGIN_MAX_ATTEMPTS;
  const redis: RedisTarget | undefined = e.REDIS_URL
    ? { kind: 'standalone', url: e.REDIS_URL }
    : e.REDIS_CLUSTER_NODES
      ? { kind: 'cluster', nodes: e.REDIS_CLUSTER_NODES }
      : e.REDIS_SENTINELS && e.REDIS_SENTINEL_NAME
        ? { kind: 'sentinel', sentinels: e.REDIS_SENTINELS, name: e.REDIS_SENTINEL_NAME }
        : undefined;
  return {
    production,
    port: e.PORT ?? 3000,
    host: e.HOST ?? '0.0.0.0',
    platform: e.PLATFORM ?? 'express',
    dataDir: resolve(cwd, e.DATA_DIR ?? 'data'),
    databaseUrl: e.DATABASE_URL,
    redis,
    sessionSecrets: e.SESSION_SECRETS,
    idleTimeout: e.SESSION_IDLE_TIMEOUT,
    absoluteTimeout: e.SESSION_ABSOLUTE_TIMEOUT,
    maxSessionsPerUser: e.MAX_SESSIONS_PER_USER ?? DEFAULT_MAX_SESSIONS_PER_USER,
    registerMaxPerIp: e.REGISTER_MAX_PER_IP ?? DEFAULT_REGISTER_MAX_PER_IP,
    login: {
      maxAttempts,
      window: e.LOGIN_WINDOW ?? DEFAULT_LOGIN_WINDOW,
      ipMaxAttempts: maxAttempts * IP_LIMIT_FACTOR,
    },
    trustProxy: e.TRUST_PROXY ?? 0,
    cookieSecure: e.COOKIE_SECURE === undefined || e.COOKIE_SECURE === 'auto' ? 'auto' : e.COOKIE_SECURE === 'true',
    metrics: e.METRICS === '1',
    adminEmail: e.ADMIN_EMAIL?.toLowerCase(),
    adminPassword: e.ADMIN_PASSWORD,
    oidc:
      e.OIDC_ISSUER && e.OIDC_CLIENT_ID && e.OIDC_CLIENT_SECRET
        ? {
            issuer: e.OIDC_ISSUER,
            clientId: e.OIDC_CLIENT_ID,
            clientSecret: e.OIDC_CLIENT_SECRET,
            redirectUri: e.OIDC_REDIRECT_URI ?? `http://localhost:${e.PORT ?? 3000}/auth/oidc/callback`,
            label: new URL(e.OIDC_ISSUER).host,
          }
        : undefined,
  };
}
