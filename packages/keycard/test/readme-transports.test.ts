/**
 * The README's GraphQL, socket.io and Microservices examples: the README
 * shows each file under test/readme exactly (with the imports a user
 * writes), and each one runs as written.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { io } from 'socket.io-client';
import { startApp } from './support/http.js';
import { SECRET } from './support/session-app.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const README = readFileSync(`${ROOT}README.md`, 'utf8');

function exampleSource(name: string): string {
  return readFileSync(`${ROOT}packages/keycard/test/readme/${name}.example.ts`, 'utf8')
    .replaceAll("'../../src/nest/socket.io/index.js'", "'keycard/nest/socket.io'")
    .replaceAll("'../../src/nest/index.js'", "'keycard/nest'")
    .replaceAll("'../../src/index.js'", "'keycard'");
}

function readmeBlock(name: string): string {
  const marker = `<!-- example: ${name} -->`;
  const at = README.indexOf(marker);
  assert.notEqual(at, -1, `README has no ${marker}`);
  const match = /```ts\n([\s\S]*?)```/.exec(README.slice(at));
  assert.ok(match, `README has no ts block after ${marker}`);
  return match[1] as string;
}

process.env['SESSION_SECRET'] ??= SECRET;

describe('README examples: GraphQL, socket.io, Microservices', () => {
  for (const name of ['graphql', 'socket-io', 'microservice']) {
    it(`${name}: the README shows the compiled example exactly`, () => {
      assert.equal(readmeBlock(name), exampleSource(name));
    });
  }

  it('graphql runs on Express with Apollo: @Public() answers, an undecorated resolver refuses anonymous callers', async () => {
    const { AppModule } = await import('./readme/graphql.example.js');
    const running = await startApp('express', AppModule);
    try {
      const ask = async (query: string) => (await running.client().post('/graphql', { query })).body as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
      assert.deepEqual((await ask('{ hello }')).data, { hello: 'world' });
      assert.equal((await ask('{ me }')).errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
    } finally {
      await running.close();
    }
  });

  it('socket-io runs: a connection without a session gets connect_error', async () => {
    const { AppModule, useSocketIo } = await import('./readme/socket-io.example.js');
    const running = await startApp('express', AppModule, { configure: useSocketIo });
    try {
      const socket = io(running.url, { transports: ['websocket'], reconnection: false });
      const message = await new Promise<string>((resolve) => socket.once('connect_error', (error) => resolve(error.message)));
      socket.close();
      assert.equal(message, 'Sign in to continue.');
    } finally {
      await running.close();
    }
  });

  it('microservice runs: sum refused without @Public(), ping answered', async () => {
    const { AppModule, connect } = await import('./readme/microservice.example.js');
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const running = await startApp('express', AppModule, { configure: (app) => connect(app, port) });
    const client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
    try {
      await assert.rejects(firstValueFrom(client.send('sum', [1, 2])), (error: { code?: string }) => error.code === 'KEYCARD_UNAUTHENTICATED');
      assert.equal(await firstValueFrom(client.send('ping', {})), 'pong');
    } finally {
      await client.close();
      await running.close();
    }
  });
});
