import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { EXIT, runCli } from '../src/cli/index.js';
import { PostgresStore, pgPoolClient } from '../src/postgres/index.js';
import { RedisStore } from '../src/redis/index.js';
import { samplePrincipal, sampleRecord } from '../src/testing/index.js';
import { DATABASE_URL, REDIS_URL, postgresSkip, redisSkip } from './support/services.js';

const run = promisify(execFile);

/** Runs the CLI in-process; resolves to the exit code and what it wrote. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { stdout: (text) => (out += text), stderr: (text) => (err += text), env: {} });
  return { code, out, err };
}

describe('keycard CLI: usage', () => {
  it('explains itself and refuses what it cannot do with exit code 2', async () => {
    assert.equal((await cli('--help')).code, EXIT.ok);
    assert.match((await cli('--help')).out, /sessions <user-id>/);
    assert.equal((await cli()).code, EXIT.usage);
    assert.match((await cli('frobnicate')).err, /unknown command "frobnicate"/);
    assert.match((await cli('sessions')).err, /sessions takes a user id/);
    assert.match((await cli('sessions', 'u', '--handle', 'h', '--store', 'redis://x:1')).err, /--handle goes with revoke only/);
    assert.match((await cli('stats')).err, /--store <url> or KEYCARD_STORE_URL/);
    const memory = await cli('stats', '--store', 'memory://');
    assert.equal(memory.code, EXIT.usage);
    assert.match(memory.err, /MemoryStore lives inside one process/);
    assert.match((await cli('stats', '--store', 'mysql://x')).err, /unknown store URL scheme "mysql"/);
    assert.match((await cli('stats', '--store', 'redis+sentinel://a:1')).err, /needs the master name/);
  });

  it('an unreachable store: exit code 1 and a message without the password', async () => {
    const result = await cli('stats', '--store', 'redis://:hunter2@127.0.0.1:1');
    assert.equal(result.code, EXIT.failed);
    assert.match(result.err, /cannot open the store/);
    assert.doesNotMatch(result.err, /hunter2/);
  });
});

describe('review #9: the CLI as a process, against ports nothing listens on', () => {
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  /** Runs bin/keycard in a child process with a 20 s guard; resolves to exit code, stderr, stdout and the time it took. */
  async function spawned(...argv: string[]): Promise<{ code: number | null; err: string; out: string; ms: number }> {
    const started = performance.now();
    const result = await run(process.execPath, [main, ...argv], { timeout: 20_000 }).then(
      ({ stdout, stderr }) => ({ code: 0, out: stdout, err: stderr }),
      (error: { code: number | null; stdout: string; stderr: string }) => ({ code: error.code, out: error.stdout, err: error.stderr }),
    );
    return { ...result, ms: performance.now() - started };
  }

  for (const url of [
    'redis+sentinel://:hunter2@127.0.0.1:1/mymaster',
    'redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster',
    'redis://:hunter2@127.0.0.1:1',
    'redis+cluster://127.0.0.1:1',
    'postgres://keycard:hunter2@127.0.0.1:1/db',
  ]) {
    it(`${url.replace(/:\/\/.*/, '://…')}: exit code 1 within a few seconds, a clear message, no password`, async () => {
      const result = await spawned('stats', '--store', url);
      assert.equal(result.code, EXIT.failed, JSON.stringify(result));
      assert.ok(result.ms < 10_000, `took ${result.ms.toFixed(0)} ms`);
      assert.match(result.err, /^keycard: /);
      assert.doesNotMatch(result.err + result.out, /hunter2/);
    });
  }

  it('never prints the password of a URL it refuses', async () => {
    for (const url of ['mysql://u:hunter2@x', 'redis+sentinel://u:hunter2@x/m', 'redis+sentinel://127.0.0.1:1,u:hunter2@/m']) {
      const result = await spawned('stats', '--store', url);
      assert.notEqual(result.code, 0);
      assert.doesNotMatch(result.err + result.out, /hunter2/, url);
    }
  });
});

describe('keycard CLI on Redis', async () => {
  const skip = await redisSkip();
  const prefix = `cli${randomBytes(3).toString('hex')}:`;
  let client: Redis;
  let store: RedisStore;

  before(async () => {
    if (skip) return;
    client = new Redis(REDIS_URL);
    store = new RedisStore(client, { prefix });
  });
  after(async () => {
    await store?.close();
    client?.disconnect();
  });

  it('sessions, revoke --handle, revoke, stats, migrate — and revocations reach subscribers (WebSockets close)', { skip }, async () => {
    const principal = samplePrincipal();
    const records = [sampleRecord({ principal, ip: '198.51.100.7', userAgent: 'phone' }), sampleRecord({ principal, userAgent: 'laptop' })];
    for (const record of records) await store.create(record);
    const heard: string[] = [];
    await store.onRevoked((handles) => heard.push(...handles));

    const listed = await cli('sessions', principal.id, '--store', REDIS_URL, '--prefix', prefix, '--json');
    assert.equal(listed.code, EXIT.ok, listed.err);
    const body = JSON.parse(listed.out) as { sessions: { handle: string; ip: string | null; userAgent: string | null }[] };
    assert.deepEqual(body.sessions.map((s) => s.handle).sort(), records.map((r) => r.handle).sort());
    assert.ok(!listed.out.includes(records[0]?.id as string), 'never the store id');
    const human = await cli('sessions', principal.id, '--store', REDIS_URL, '--prefix', prefix);
    assert.match(human.out, /^handle +createdAt +lastSeenAt/);
    assert.match(human.out, /198\.51\.100\.7 +phone/);

    const one = await cli('revoke', principal.id, '--handle', records[0]?.handle as string, '--store', REDIS_URL, '--prefix', prefix);
    assert.equal(one.code, EXIT.ok, one.err);
    assert.match(one.out, /revoked 1 session/);
    assert.equal((await cli('revoke', principal.id, '--handle', 'no-such-handle', '--store', REDIS_URL, '--prefix', prefix)).code, EXIT.notFound);
    const stats = await cli('stats', '--store', REDIS_URL, '--prefix', prefix, '--json');
    assert.deepEqual({ ...JSON.parse(stats.out), 'replicas connected (first master)': 0 }, { kind: 'redis', sessions: 1, 'users with sessions': 1, masters: 1, 'replicas connected (first master)': 0 });
    const all = await cli('revoke', principal.id, '--store', REDIS_URL, '--prefix', prefix, '--json');
    assert.deepEqual(JSON.parse(all.out), { userId: principal.id, revoked: [records[1]?.handle] });
    assert.equal(await store.find(records[1]?.id as string, Date.now(), Infinity), null);
    const deadline = Date.now() + 2000;
    while (heard.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(heard.sort(), records.map((r) => r.handle).sort());
    assert.match((await cli('migrate', '--store', REDIS_URL)).out, /redis needs no migration/);
  });
});

describe('keycard CLI on PostgreSQL', async () => {
  const skip = await postgresSkip();
  const schema = `cli_${randomBytes(3).toString('hex')}`;
  let pool: pg.Pool;

  before(() => {
    if (!skip) pool = new pg.Pool({ connectionString: DATABASE_URL });
  });
  after(async () => {
    await pool?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool?.end();
  });

  it('migrate creates the tables; sessions, revoke and stats read and change them', { skip }, async () => {
    const migrated = await cli('migrate', '--store', DATABASE_URL, '--schema', schema);
    assert.equal(migrated.code, EXIT.ok, migrated.err);
    assert.match(migrated.out, /schema ready/);
    const tables = await pool.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema]);
    assert.ok(tables.rows.length >= 2, `tables: ${tables.rows.map((row) => row.table_name).join(', ')}`);
    const store = new PostgresStore({ client: pgPoolClient(pool), schema, sweepInterval: 0 });
    const principal = samplePrincipal();
    await store.create(sampleRecord({ principal }));
    await store.create(sampleRecord({ principal }));
    const listed = JSON.parse((await cli('sessions', principal.id, '--store', DATABASE_URL, '--schema', schema, '--json')).out);
    assert.equal(listed.sessions.length, 2);
    assert.equal(JSON.parse((await cli('stats', '--store', DATABASE_URL, '--schema', schema, '--json')).out).sessions, 2);
    assert.equal(JSON.parse((await cli('revoke', principal.id, '--store', DATABASE_URL, '--schema', schema, '--json')).out).revoked.length, 2);
    assert.deepEqual(await store.listByUser(principal.id, Date.now()), []);
    await store.close();
  });
});

describe('keycard CLI on PGlite, as the installed binary', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keycard-cli-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('bin/keycard migrate, then stats, in a child process', async () => {
    const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
    const migrated = await run(process.execPath, [main, 'migrate', '--store', `pglite:${dir}`]);
    assert.match(migrated.stdout, /schema ready on PGlite/);
    const stats = await run(process.execPath, [main, 'stats', '--store', `pglite:${dir}`, '--json']);
    assert.deepEqual(JSON.parse(stats.stdout), { kind: 'pglite', sessions: 0, 'expired, not yet swept': 0, 'users with sessions': 0 });
    const refused = await run(process.execPath, [main, 'bogus']).then(() => null, (error: { code: number; stderr: string }) => error);
    assert.equal(refused?.code, EXIT.usage);
  });
});
