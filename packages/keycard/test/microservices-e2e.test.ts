/**
 * Microservice (RPC) handlers of a hybrid application, over real TCP with
 * @nestjs/microservices, on Express and on Fastify: they carry no session,
 * so keycard's global guard refuses them unless `@Public()` — with and
 * without `inheritAppConfig` (without it Nest gives the microservice none
 * of the application's global guards; keycard puts its guard on the
 * handlers itself). Regression: the guard returned true for every non-HTTP
 * context, so every `@MessagePattern` handler answered anybody.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Controller } from '@nestjs/common';
import { ClientProxyFactory, EventPattern, MessagePattern, Payload, Transport, type ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { Public, Roles, SessionModule } from '../src/nest/index.js';
import { PLATFORMS, startApp, type RunningApp } from './support/http.js';
import { SECRET } from './support/session-app.js';

/** What the handlers were run with: a refused handler must never run. */
const ran: string[] = [];

@Controller()
class MathController {
  @MessagePattern('sum')
  sum(@Payload() numbers: number[]): number {
    ran.push('sum');
    return numbers.reduce((a, b) => a + b, 0);
  }

  @Public()
  @MessagePattern('ping')
  ping(): string {
    ran.push('ping');
    return 'pong';
  }

  @Public()
  @Roles('admin')
  @MessagePattern('admin-only')
  adminOnly(): string {
    ran.push('admin-only');
    return 'secret';
  }

  @EventPattern('audit')
  audit(@Payload() _event: unknown): void {
    ran.push('audit');
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface RpcError {
  readonly status: string;
  readonly statusCode: number;
  readonly code: string;
  readonly message: string;
}

async function refusal(client: ClientProxy, pattern: string, data: unknown): Promise<RpcError> {
  try {
    const answer = await firstValueFrom(client.send(pattern, data));
    assert.fail(`expected a refusal, got ${JSON.stringify(answer)}`);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    return error as RpcError;
  }
}

for (const platform of PLATFORMS) {
  for (const inheritAppConfig of [true, false]) {
    describe(`microservice handlers of a hybrid ${platform} app (inheritAppConfig: ${inheritAppConfig})`, () => {
      let app: RunningApp;
      let client: ClientProxy;

      before(async () => {
        const port = await freePort();
        app = await startApp(
          platform,
          { imports: [SessionModule.forRoot({ secrets: SECRET, csrf: false })], controllers: [MathController] },
          {
            configure: async (nest) => {
              nest.connectMicroservice({ transport: Transport.TCP, options: { host: '127.0.0.1', port } }, { inheritAppConfig });
              await nest.startAllMicroservices();
            },
          },
        );
        client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
        await client.connect();
      });

      after(async () => {
        await client.close();
        await app.close();
      });

      it('a handler without @Public() is refused, says why, and never runs', async () => {
        ran.length = 0;
        const error = await refusal(client, 'sum', [1, 2]);
        assert.equal(error.status, 'error');
        assert.equal(error.code, 'KEYCARD_UNAUTHENTICATED');
        assert.equal(error.statusCode, 401);
        assert.match(error.message, /microservice \(RPC\) handlers carry no session.*MathController\.sum.*@Public\(\)/);
        assert.deepEqual(ran, []);
      });

      it('a @Public() handler answers', async () => {
        assert.equal(await firstValueFrom(client.send('ping', {})), 'pong');
      });

      it('@Roles() on a @Public() handler is refused: there is no session to have a role', async () => {
        ran.length = 0;
        const error = await refusal(client, 'admin-only', {});
        assert.equal(error.code, 'KEYCARD_UNAUTHENTICATED');
        assert.match(error.message, /@Roles\(\) refuses MathController\.adminOnly/);
        assert.deepEqual(ran, []);
      });

      it('an event handler without @Public() does not run', async () => {
        ran.length = 0;
        await firstValueFrom(client.emit('audit', {}));
        // The event is fire-and-forget: a @Public() request after it, on the same connection, is answered after it was handled.
        assert.equal(await firstValueFrom(client.send('ping', {})), 'pong');
        assert.deepEqual(ran, ['ping']);
      });
    });
  }
}
