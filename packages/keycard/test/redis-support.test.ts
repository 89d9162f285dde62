import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisServer, redisCommand, redisServerSkip } from './support/redis-server.js';

// The helpers other suites use to run their own redis-server: pinned here so that they stay trustworthy.
const skip = redisServerSkip();

describe('RedisServer test helper', { skip }, () => {
  it('start — answers PING on a free loopback port, persisting nothing', async () => {
    const server = await RedisServer.start();
    const client = new Redis({ host: server.host, port: server.port });
    try {
      assert.equal(await client.ping(), 'PONG');
      assert.deepEqual(await client.config('GET', 'save'), ['save', '']);
      assert.deepEqual(await client.config('GET', 'appendonly'), ['appendonly', 'no']);
      assert.deepEqual(await client.config('GET', 'dir'), ['dir', server.dir]);
    } finally {
      client.disconnect();
      await server.stop();
    }
  });

  it('start — rejects, naming the cause, when the fixed port is taken', async () => {
    const first = await RedisServer.start();
    try {
      await assert.rejects(RedisServer.start({ port: first.port }), /Address already in use/);
    } finally {
      await first.stop();
    }
  });

  it('kill/restart — a new process on the same port, with no data', async () => {
    const server = await RedisServer.start();
    try {
      await server.command('SET', 'k', 'v');
      const pid = server.pid;
      await server.kill();
      assert.equal(server.running, false);
      await assert.rejects(redisCommand(server.port, ['PING'], 500), /ECONNREFUSED/);
      await server.restart();
      assert.notEqual(server.pid, pid);
      assert.equal(await server.command('EXISTS', 'k'), 0);
    } finally {
      await server.stop();
    }
  });

  it('pause/resume — a paused server accepts nothing, then answers again', async () => {
    const server = await RedisServer.start();
    try {
      server.pause();
      await assert.rejects(redisCommand(server.port, ['PING'], 300), /no reply/);
      server.resume();
      assert.equal(await server.command('PING'), 'PONG');
    } finally {
      await server.stop();
    }
  });

  it('stop — ends the process and removes its directory', async () => {
    const server = await RedisServer.start();
    const pid = server.pid as number;
    await server.stop();
    assert.equal(existsSync(server.dir), false);
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
  });
});
