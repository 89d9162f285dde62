/**
 * The README's GraphQL, socket.io and Microservices examples: the README
 * shows each file under test/readme exactly (with the imports a user
 * writes), and each one runs as written.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { io } from 'socket.io-client';
import { SessionManager } from '../src/index.js';
import { SessionModule } from '../src/nest/index.js';
import { Gates } from './support/gate.js';
import { graphqlModule } from './support/graphql-app.js';
import { PLATFORMS, expectStatus, startApp } from './support/http.js';
import { exampleSource, readmeBlock } from './support/readme.js';
import { SECRET, SessionTestController } from './support/session-app.js';

process.env['SESSION_SECRET'] ??= SECRET;

describe('README examples: GraphQL, socket.io, Microservices', () => {
  for (const name of ['graphql', 'dataloader', 'socket-io', 'microservice']) {
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

  for (const platform of PLATFORMS) {
    it(`dataloader runs on ${platform} (${platform === 'express' ? 'Apollo' : 'Mercurius'}): one batch for the caller, and one store lookup for the request`, async () => {
      const { OrderRepository, OrdersLoader, OrdersResolver } = await import('./readme/dataloader.example.js');
      const running = await startApp(platform, {
        imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false, cache: false }), graphqlModule(platform, 'code-first')],
        controllers: [SessionTestController],
        providers: [{ provide: Gates, useValue: new Gates() }, OrderRepository, OrdersLoader, OrdersResolver],
      });
      try {
        const client = running.client();
        expectStatus(await client.post('/login', { id: 'olga' }), 201);
        const repository = running.app.get(OrderRepository);
        const batches: (readonly string[])[] = [];
        const findMany = repository.findMany.bind(repository);
        repository.findMany = (owner, ids) => {
          batches.push(ids);
          return findMany(owner, ids);
        };
        const store = running.app.get(SessionManager).store;
        let finds = 0;
        const find = store.find.bind(store);
        store.find = (...args: Parameters<typeof find>) => {
          finds++;
          return find(...args);
        };
        const result = await client.post('/graphql', { query: '{ orders(ids: ["a", "b", "c"]) { id owner } }' });
        assert.deepEqual(result.body, {
          data: { orders: [{ id: 'a', owner: 'olga' }, { id: 'b', owner: 'olga' }, { id: 'c', owner: 'olga' }] },
        });
        assert.deepEqual(batches, [['a', 'b', 'c']], 'one batch');
        assert.equal(finds, 1, 'one store lookup, for the request');
        const anonymous = (await running.client().post('/graphql', { query: '{ orders(ids: ["a"]) { id } }' })).body as {
          errors?: { extensions?: { code?: string } }[];
        };
        assert.equal(anonymous.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
      } finally {
        await running.close();
      }
    });
  }

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
