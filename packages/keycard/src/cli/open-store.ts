import { InvalidOptionsError } from '../core/errors.js';
import type { SessionStore } from '../core/store.js';

/** A store opened from a URL by the CLI, with what it opened itself, to close. */
export interface OpenedStore {
  readonly store: SessionStore;
  /** 'redis', 'redis-sentinel', 'redis-cluster', 'postgres' or 'pglite'. */
  readonly kind: string;
  /** Where, without credentials: for messages. */
  readonly description: string;
  /** Store-specific facts for `stats`. */
  stats(): Promise<Record<string, number | string>>;
  /** Creates the SQL schema (sessions and sign-in counters); false when the store has none. */
  migrate(): Promise<boolean>;
  close(): Promise<void>;
}

export interface StoreUrlOptions {
  /** RedisStore prefix. Default `keycard:`. */
  readonly prefix?: string | undefined;
  /** PostgresStore table. Default `keycard_sessions`. */
  readonly table?: string | undefined;
  /** PostgresStore schema. Default: the connection's search_path. */
  readonly schema?: string | undefined;
}

/**
 * The shipped stores, by URL scheme:
 *
 * | URL | store |
 * | --- | --- |
 * | `redis://[:password@]host:port[/db]`, `rediss://…` | RedisStore on one server |
 * | `redis+sentinel://host:port[,host:port…]/<master-name>` | RedisStore through Sentinel |
 * | `redis+cluster://host:port[,host:port…]` | RedisStore on a Cluster |
 * | `postgres://…`, `postgresql://…` | PostgresStore on `pg` |
 * | `pglite:<directory>` | PostgresStore on an embedded PGlite directory |
 *
 * The drivers are the optional peer dependencies, loaded only for their scheme.
 * `MemoryStore` lives inside one process: there is nothing to open from outside.
 */
export async function openStoreFromUrl(url: string, options: StoreUrlOptions = {}): Promise<OpenedStore> {
  const scheme = /^([a-z+]+):/.exec(url)?.[1];
  switch (scheme) {
    case 'redis':
    case 'rediss':
    case 'redis+sentinel':
    case 'redis+cluster':
      return openRedis(url, scheme, options);
    case 'postgres':
    case 'postgresql':
    case 'pglite':
      return openSql(url, scheme, options);
    case 'memory':
      throw new InvalidOptionsError('keycard: a MemoryStore lives inside one process; the CLI cannot reach it from outside');
    default:
      throw new InvalidOptionsError(
        `keycard: unknown store URL scheme ${JSON.stringify(scheme ?? redactCredentials(url).slice(0, 20))}: use redis://, redis+sentinel://, redis+cluster://, postgres:// or pglite:<dir>`,
      );
  }
}

/** How long opening a store may take, whatever the client library's own retries: then a clear error, not a hang. */
const OPEN_TIMEOUT_MS = 5000;

/** `text` with every `user:password@` part of a URL replaced: nothing the CLI prints may carry credentials. */
export function redactCredentials(text: string): string {
  return text.replace(/([a-z+]+:\/\/)[^/@\s]*@/gi, '$1***@').replace(/^[^/@\s]*:[^/@\s]*@/, '***@');
}

/** The credentials of a `scheme://[user:password@]hosts/...` URL, and the URL without them. */
function splitCredentials(url: string, scheme: string): { url: string; username?: string; password?: string } {
  const rest = url.slice(scheme.length + 3);
  const at = rest.indexOf('@');
  const slash = rest.indexOf('/');
  if (at === -1 || (slash !== -1 && at > slash)) return { url };
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  const username = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon));
  const password = colon === -1 ? undefined : decodeURIComponent(userinfo.slice(colon + 1));
  return { url: `${scheme}://${rest.slice(at + 1)}`, ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

/** host:port pairs of a `scheme://a:1,b:2/...` URL, which `new URL` cannot parse. */
function hostList(url: string, scheme: string): { nodes: { host: string; port: number }[]; path: string } {
  const rest = url.slice(scheme.length + 3);
  const slash = rest.indexOf('/');
  const hosts = slash === -1 ? rest : rest.slice(0, slash);
  const nodes = hosts.split(',').filter(Boolean).map((entry) => {
    const at = entry.lastIndexOf(':');
    const port = Number(entry.slice(at + 1));
    if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new InvalidOptionsError(`keycard: ${scheme} URL entries must be host:port, got ${JSON.stringify(redactCredentials(entry))}`);
    }
    return { host: entry.slice(0, at), port };
  });
  if (nodes.length === 0) throw new InvalidOptionsError(`keycard: ${scheme} URL lists no host:port`);
  return { nodes, path: slash === -1 ? '' : rest.slice(slash + 1) };
}

/** Connects, or disconnects and throws after OPEN_TIMEOUT_MS; the message names the target without credentials. */
async function connectWithin(client: { connect(): Promise<void>; disconnect(): void }, description: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from ${description} within ${OPEN_TIMEOUT_MS / 1000} s`)), OPEN_TIMEOUT_MS);
  });
  try {
    await Promise.race([client.connect(), timeout]);
  } catch (error) {
    client.disconnect();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function openRedis(url: string, scheme: string, options: StoreUrlOptions): Promise<OpenedStore> {
  const { Redis, Cluster } = await import('ioredis');
  const { RedisStore } = await import('../redis/redis-store.js');
  // Fail fast, never queue: an operator's command should say "unreachable" within seconds.
  const fast = { maxRetriesPerRequest: 0, connectTimeout: 3000, commandTimeout: 5000 } as const;
  let client: InstanceType<typeof Redis> | InstanceType<typeof Cluster>;
  let description: string;
  if (scheme === 'redis+cluster') {
    const { nodes } = hostList(url, scheme);
    client = new Cluster(nodes, { lazyConnect: true, enableOfflineQueue: false, clusterRetryStrategy: () => null, redisOptions: fast });
    description = `cluster ${nodes.map((node) => `${node.host}:${node.port}`).join(',')}`;
  } else if (scheme === 'redis+sentinel') {
    const { url: bare, ...credentials } = splitCredentials(url, scheme);
    const { nodes, path } = hostList(bare, scheme);
    if (!path) throw new InvalidOptionsError('keycard: redis+sentinel URL needs the master name: redis+sentinel://host:port/<name>');
    // sentinelRetryStrategy: ioredis' default asks unreachable Sentinels again forever (the CLI hung).
    client = new Redis({
      sentinels: nodes,
      name: path,
      ...credentials,
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: () => null,
      sentinelRetryStrategy: () => null,
      ...fast,
    });
    description = `sentinel ${path} via ${nodes.map((node) => `${node.host}:${node.port}`).join(',')}`;
  } else {
    client = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null, ...fast });
    const parsed = new URL(url);
    description = `${parsed.hostname}:${parsed.port || '6379'}`;
  }
  client.on('error', () => undefined);
  await connectWithin(client, description);
  const prefix = options.prefix ?? 'keycard:';
  const store = new RedisStore(client, { prefix });
  return {
    store,
    kind: scheme === 'redis+cluster' ? 'redis-cluster' : scheme === 'redis+sentinel' ? 'redis-sentinel' : 'redis',
    description,
    async stats() {
      // An operator's count: SCAN over every master, never KEYS, and never on the request path.
      const masters = 'nodes' in client && typeof client.nodes === 'function' ? client.nodes('master') : [client as InstanceType<typeof Redis>];
      let sessions = 0;
      let users = 0;
      for (const node of masters) {
        for (const [pattern, add] of [[`${prefix}s:*`, (n: number) => (sessions += n)], [`${prefix}u:*`, (n: number) => (users += n)]] as const) {
          let cursor = '0';
          do {
            const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
            cursor = next;
            add(keys.length);
          } while (cursor !== '0');
        }
      }
      const replication = String(await masters[0]?.info('replication'));
      return {
        sessions,
        'users with sessions': users,
        masters: masters.length,
        'replicas connected (first master)': Number(/connected_slaves:(\d+)/.exec(replication)?.[1] ?? 0),
      };
    },
    async migrate() {
      return false;
    },
    async close() {
      await store.close();
      client.disconnect();
    },
  };
}

async function openSql(url: string, scheme: string, options: StoreUrlOptions): Promise<OpenedStore> {
  const { PostgresStore } = await import('../postgres/postgres-store.js');
  const { PostgresRateLimitStore } = await import('../postgres/rate-limit-store.js');
  const { pgPoolClient, pgliteClient } = await import('../postgres/sql-client.js');
  let client;
  let closeDriver: () => Promise<void>;
  let description: string;
  if (scheme === 'pglite') {
    const dir = url.slice('pglite:'.length).replace(/^\/\//, '');
    if (!dir) throw new InvalidOptionsError('keycard: pglite URL needs a directory: pglite:./data/pglite');
    const { PGlite } = await import('@electric-sql/pglite');
    const db = await PGlite.create({ dataDir: dir });
    client = pgliteClient(db);
    closeDriver = () => db.close();
    description = `PGlite ${dir}`;
  } else {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 5000 });
    client = pgPoolClient(pool);
    closeDriver = () => pool.end();
    const parsed = new URL(url);
    description = `PostgreSQL ${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  }
  const tableOptions = { client, ...(options.table ? { table: options.table } : {}), ...(options.schema ? { schema: options.schema } : {}) };
  const store = new PostgresStore({ ...tableOptions, sweepInterval: 0 });
  return {
    store,
    kind: scheme === 'pglite' ? 'pglite' : 'postgres',
    description,
    async stats() {
      const now = Date.now();
      const rows = (
        await client.query(
          `SELECT count(*)::int AS total, count(*) FILTER (WHERE expires_at > $1::bigint)::int AS live,
             count(DISTINCT user_id) FILTER (WHERE expires_at > $1::bigint)::int AS users FROM ${store.names.qualified}`,
          [now],
        )
      ).rows[0] as { total: number; live: number; users: number };
      return { sessions: rows.live, 'expired, not yet swept': rows.total - rows.live, 'users with sessions': rows.users };
    },
    async migrate() {
      await store.migrate();
      const limits = new PostgresRateLimitStore({ client, sweepInterval: 0, ...(options.schema ? { schema: options.schema } : {}) });
      await limits.migrate();
      await limits.close();
      return true;
    },
    async close() {
      await store.close();
      await closeDriver();
    },
  };
}
