import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import pg from 'pg';
import { Redis } from 'ioredis';
import { PrivateRedis } from '../src/harness/redis-server.js';
import { DEFAULT_DATABASE_URL } from '../src/reliability/demo-deployment.js';
import { FUZZ_SCALE, fuzz } from '../src/reliability/fuzz.js';
import { runHttpFuzz, type HttpFuzzReport } from '../src/reliability/fuzz/http-fuzzer.js';
import { LoopbackClient } from '../src/reliability/fuzz/loopback-client.js';
import type { ParserRun } from '../src/reliability/fuzz/parsers.js';
import { changedKeys, StateDigest, type Snapshot } from '../src/reliability/fuzz/state-digest.js';
import { postgresSkip, redisServerSkip } from './support/services.js';

const DATABASE_URL = process.env['BENCH_DATABASE_URL'] ?? DEFAULT_DATABASE_URL;

const skip = redisServerSkip() || (await postgresSkip());

describe('when the fuzz experiment runs at quick scale', { skip }, () => {
  it('run — no 5xx, no exits, no state change from rejected requests, with the expected case counts', async () => {
    const outcome = await fuzz.run('quick');
    assert.ok(outcome.passed, outcome.problems.join('\n'));
    const data = outcome.data as { seed: number; parsers: ParserRun[]; http: HttpFuzzReport };
    assert.equal(typeof data.seed, 'number');
    assert.equal(data.parsers.length, 3);
    for (const run of data.parsers) assert.equal(run.cases, FUZZ_SCALE.quick.parserCases, run.parser);
    assert.equal(data.http.cases, FUZZ_SCALE.quick.httpCases);
    const batches = Math.ceil(FUZZ_SCALE.quick.httpCases / FUZZ_SCALE.quick.batchSize);
    assert.ok(data.http.batchesChecked >= batches / 2, `only ${data.http.batchesChecked} of ${batches} batches were all rejected`);
    const figure = (label: string) => outcome.figures.find((candidate) => candidate.label === label)?.value;
    assert.equal(figure('HTTP cases (Express + Fastify)'), '1 500');
    assert.equal(figure('5xx responses'), '0');
    assert.equal(figure('State changes from rejected requests'), '0');
    assert.equal(figure('Process exits'), '0');
    assert.equal(figure('Seed'), String(data.seed));
  });
});

describe('when a server misbehaves, the checker says so', () => {
  let server: Server;
  let base: string;
  let state = 0;
  const client = new LoopbackClient(8);
  before(async () => {
    server = createServer((req, res) => {
      // /change answers 400 but changes the state: a rejected request that is not harmless.
      if (req.url === '/change') state++;
      res.statusCode = req.url === '/change' ? 400 : 500;
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  after(async () => {
    client.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const options = (path: string) => ({
    client,
    targets: [base],
    cases: 30,
    batchSize: 10,
    seed: 1234,
    plans: fc.integer({ min: 0, max: 0 }),
    resolve: (target: number) => ({ target, request: { method: 'GET', path, headers: {} } }),
    describe: () => `GET ${path}`,
    snapshot: async (): Promise<Snapshot> => new Map([['state', String(state)]]),
  });

  it('runHttpFuzz — counts every 5xx and names the seed to replay it', async () => {
    const report = await runHttpFuzz(options('/'));
    assert.equal(report.serverErrors, 30);
    assert.equal(report.statuses['500'], 30);
    assert.equal(report.batchesChecked, 0);
    assert.match(report.offences[0] ?? '', /^500 \[seed 1234, batch 0, case 0\] for GET \//);
  });

  it('runHttpFuzz — finds a batch of rejected requests that changed state', async () => {
    const report = await runHttpFuzz(options('/change'));
    assert.equal(report.serverErrors, 0);
    assert.equal(report.batchesChecked, 3);
    assert.equal(report.stateChanges, 3);
    assert.match(report.offences[0] ?? '', /state changed by a batch of rejected requests \[seed 1234, batch 0\]: state/);
  });
});

describe('when the state digest compares Redis and PostgreSQL', { skip }, () => {
  let redis: PrivateRedis;
  let writer: Redis;
  let database: pg.Client;
  let digest: StateDigest;
  const schema = `keycard_fuzz_digest_${process.pid}`;

  before(async () => {
    redis = await PrivateRedis.start();
    writer = new Redis(redis.url);
    database = new pg.Client({ connectionString: DATABASE_URL });
    await database.connect();
    await database.query(`CREATE SCHEMA "${schema}"`);
    await database.query(`CREATE TABLE "${schema}".users (id text PRIMARY KEY, email text NOT NULL, roles text[] NOT NULL)`);
    await database.query(`INSERT INTO "${schema}".users VALUES ('u1', 'a@example.test', '{user}')`);
    digest = await StateDigest.open(redis.url, async () => (await database.query(`SELECT * FROM "${schema}".users ORDER BY id`)).rows as object[]);
    await writer.hset('keycard:s:one', '#h', 'handle', '#u', 'u1', '#s', '1000', '#i', '2000', '#x', '9000');
    await writer.zadd('keycard:u:u1', 9000, 'one');
  });
  after(async () => {
    await digest.close();
    await database.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await database.end();
    writer.disconnect();
    await redis.stop();
  });

  async function changesMadeBy(change: () => Promise<unknown>): Promise<string[]> {
    const before = await digest.take();
    await change();
    return changedKeys(before, await digest.take());
  }

  it('take — ignores the sign-in throttle counters (they count rejected sign-ins by design)', async () => {
    assert.deepEqual(await changesMadeBy(() => writer.zadd('keycard:rl:account:a@example.test', Date.now(), 'attempt')), []);
  });

  it('take — ignores a touch: last seen, idle expiry and TTL', async () => {
    assert.deepEqual(await changesMadeBy(() => writer.hset('keycard:s:one', '#s', '5000', '#i', '6000').then(() => writer.pexpire('keycard:s:one', 60_000))), []);
  });

  it('take — sees a session record changed, created or destroyed directly in Redis', async () => {
    assert.deepEqual(await changesMadeBy(() => writer.hset('keycard:s:one', '.cart', '[1]')), ['redis/keycard:s:one']);
    assert.deepEqual(await changesMadeBy(() => writer.hset('keycard:s:two', '#h', 'other')), ['redis/keycard:s:two']);
    assert.deepEqual(await changesMadeBy(() => writer.del('keycard:s:two')), ['redis/keycard:s:two']);
  });

  it('take — sees a per-user index change', async () => {
    assert.deepEqual(await changesMadeBy(() => writer.zadd('keycard:u:u1', 9500, 'two')), ['redis/keycard:u:u1']);
  });

  it('take — sees a users row inserted or updated directly in PostgreSQL', async () => {
    assert.deepEqual(await changesMadeBy(() => database.query(`INSERT INTO "${schema}".users VALUES ('u2', 'b@example.test', '{user}')`)), ['users/u2']);
    assert.deepEqual(await changesMadeBy(() => database.query(`UPDATE "${schema}".users SET roles = '{user,admin}' WHERE id = 'u1'`)), ['users/u1']);
  });
});
