/**
 * The reference app as production runs it: several app processes sharing one
 * PostgreSQL (users, in a schema of their own) and one Redis (sessions). The
 * processes are the real `apps/demo/dist/src/main.js`, so a crash is a process
 * exit the experiment sees, not an exception a test runner swallows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { track, waitForExit } from '../harness/children.js';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const MAIN = fileURLToPath(new URL('../../../../apps/demo/dist/src/main.js', import.meta.url));
const START_DEADLINE_MS = 60_000;

export interface DemoInstance {
  readonly url: string;
  readonly platform: 'express' | 'fastify';
  readonly child: ChildProcess;
  /** Exit code or signal once it has exited; undefined while it runs. */
  exited(): string | undefined;
  output(): string;
}

/** Session cache lookups an instance counted (keycard_session_cache_lookups_total), since it started. */
export interface CacheLookups {
  readonly hit: number;
  readonly miss: number;
}

export interface DeploymentOptions {
  readonly redisUrl: string;
  readonly databaseUrl?: string;
  /** One instance per entry, in order. */
  readonly platforms: readonly ('express' | 'fastify')[];
  /** Extra environment for every instance (LOGIN_MAX_ATTEMPTS, MAX_SESSIONS_PER_USER, …). */
  readonly env?: Readonly<Record<string, string>>;
}

export class DemoDeployment {
  private constructor(
    readonly instances: readonly DemoInstance[],
    private readonly schema: string,
    private readonly databaseUrl: string,
    private readonly dataDir: string,
  ) {}

  static async start(options: DeploymentOptions): Promise<DemoDeployment> {
    const databaseUrl = options.databaseUrl ?? process.env.BENCH_DATABASE_URL ?? DEFAULT_DATABASE_URL;
    const schema = `keycard_reliability_${process.pid}_${randomBytes(3).toString('hex')}`;
    await adminQuery(databaseUrl, `CREATE SCHEMA "${schema}"`);
    const dataDir = await mkdtemp(join(tmpdir(), 'keycard-reliability-'));
    const database = new URL(databaseUrl);
    database.searchParams.set('options', `-c search_path=${schema}`);
    const env: Record<string, string> = {
      DATA_DIR: dataDir,
      DATABASE_URL: database.toString(),
      REDIS_URL: options.redisUrl,
      // Every instance signs and verifies with the same key, as a deployment does.
      SESSION_SECRETS: randomBytes(32).toString('base64url'),
      ...options.env,
    };
    const instances: DemoInstance[] = [];
    try {
      // One after the other: they would queue on the migration lock anyway.
      for (const platform of options.platforms) instances.push(await startInstance({ ...env, PLATFORM: platform }, platform));
    } catch (error) {
      for (const instance of instances) instance.child.kill('SIGKILL');
      await adminQuery(databaseUrl, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
      throw error;
    }
    return new DemoDeployment(instances, schema, databaseUrl, dataDir);
  }

  /** Instances that have exited (they never should). */
  exits(): string[] {
    return this.instances.flatMap((instance, index) => {
      const exit = instance.exited();
      return exit === undefined ? [] : [`instance ${index} (${instance.platform}) exited: ${exit}\n${instance.output().slice(-2000)}`];
    });
  }

  /** Each instance's session cache lookups, from its GET /metrics (the instances need METRICS=1). */
  async cacheLookups(): Promise<CacheLookups[]> {
    return Promise.all(
      this.instances.map(async (instance) => {
        const response = await fetch(`${instance.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
        if (response.status !== 200) throw new Error(`${instance.url}/metrics answered ${response.status} (is METRICS=1 set?)`);
        const text = await response.text();
        const count = (result: string): number => Number(new RegExp(`^\\w*session_cache_lookups_total\\{result="${result}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
        return { hit: count('hit'), miss: count('miss') };
      }),
    );
  }

  /** A query on the deployment's users database, for state snapshots. */
  async query<Row extends object>(sql: string): Promise<Row[]> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    await client.connect();
    try {
      await client.query(`SET search_path TO "${this.schema}"`);
      return (await client.query<Row>(sql)).rows;
    } finally {
      await client.end();
    }
  }

  async stop(): Promise<void> {
    for (const instance of this.instances) {
      instance.child.kill('SIGTERM');
      await waitForExit(instance.child, 5_000);
    }
    await adminQuery(this.databaseUrl, `DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`).catch(() => {});
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function startInstance(env: Record<string, string>, platform: 'express' | 'fastify'): Promise<DemoInstance> {
  const child = track(
    spawn(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let output = '';
  let exit: string | undefined;
  child.once('exit', (code, signal) => (exit = signal ?? `code ${code}`));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the demo printed no start-up banner within ${START_DEADLINE_MS} ms:\n${output}`));
    }, START_DEADLINE_MS);
    const onData = (chunk: Buffer): void => {
      // Kept whole until the banner, then only the tail (an hours-long run must not grow it).
      output = (output + chunk.toString('utf8')).slice(-16_384);
      const match = /open (http:\/\/\S+?)\/?\s/.exec(output);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve({ url: match[1].replace('localhost', '127.0.0.1'), platform, child, exited: () => exit, output: () => output });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited with ${code} before starting:\n${output}`));
    });
  });
}
